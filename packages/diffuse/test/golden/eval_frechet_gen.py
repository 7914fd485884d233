"""Golden values for the FID tests: Fréchet distances between Gaussians, computed in numpy float64.

tr((S1 S2)^1/2) is taken here from the eigenvalues of the *non-symmetric* product S1 S2
(numpy.linalg.eigvals, LAPACK geev): a different route from ours (symmetric eigenproblems of
sqrt(S1) S2 sqrt(S1)), so the test compares two independent computations.

Run:  /usr/bin/python3 packages/diffuse/test/golden/eval_frechet_gen.py
Writes eval_frechet.json next to this script.
"""
import json
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def trace_sqrt_product(s1, s2):
    mu = np.linalg.eigvals(s1 @ s2)
    # Eigenvalues of a product of PSD matrices are real and >= 0; drop rounding noise.
    return float(np.sum(np.sqrt(np.clip(mu.real, 0, None))))


def frechet(mu1, s1, mu2, s2):
    d = mu1 - mu2
    return float(d @ d + np.trace(s1) + np.trace(s2) - 2 * trace_sqrt_product(s1, s2))


def random_cov(rng, d, n):
    """Sample covariance (numpy.cov) of n draws of a random correlated Gaussian in d dims."""
    a = rng.standard_normal((d, d)) / np.sqrt(d)
    x = rng.standard_normal((n, d)) @ a.T + rng.standard_normal(d)
    return np.cov(x, rowvar=False)


def case(name, mu1, s1, mu2, s2):
    return {"name": name, "d": int(mu1.shape[0]), "mu1": mu1.tolist(), "sigma1": s1.ravel().tolist(),
            "mu2": mu2.tolist(), "sigma2": s2.ravel().tolist(), "fid": frechet(mu1, s1, mu2, s2)}


def main():
    rng = np.random.default_rng(20240601)
    cases = []
    for d in (3, 16):
        s1, s2 = random_cov(rng, d, 5 * d), random_cov(rng, d, 5 * d)
        assert np.abs(s1 @ s2 - s2 @ s1).max() > 1e-2, "want non-commuting covariances"
        cases.append(case(f"non-commuting d={d}", rng.standard_normal(d), s1, rng.standard_normal(d), s2))
    # Rank-deficient sample covariances (n < d), as FID with fewer images than features has.
    d = 12
    s1, s2 = random_cov(rng, d, 7), random_cov(rng, d, 9)
    cases.append(case(f"singular d={d}", rng.standard_normal(d), s1, rng.standard_normal(d), s2))
    with open(os.path.join(HERE, "eval_frechet.json"), "w") as f:
        json.dump({"cases": cases}, f)


if __name__ == "__main__":
    main()
