// Data types and devices, with the codes of c10::ScalarType.

export type DType =
  | 'uint8'
  | 'int8'
  | 'int16'
  | 'int32'
  | 'int64'
  | 'float16'
  | 'float32'
  | 'float64'
  | 'bool'
  | 'bfloat16';

export type Device = 'cpu' | 'cuda' | `cuda:${number}`;

/** c10::ScalarType enum values. */
export const DTYPE_CODE: Record<DType, number> = {
  uint8: 0,
  int8: 1,
  int16: 2,
  int32: 3,
  int64: 4,
  float16: 5,
  float32: 6,
  float64: 7,
  bool: 11,
  bfloat16: 15,
};

const CODE_DTYPE = new Map<number, DType>(Object.entries(DTYPE_CODE).map(([k, v]) => [v, k as DType]));

export function dtypeFromCode(code: number): DType {
  const d = CODE_DTYPE.get(code);
  if (d === undefined) throw new TypeError(`unsupported dtype code ${code}`);
  return d;
}

export function isDType(s: unknown): s is DType {
  return typeof s === 'string' && s in DTYPE_CODE;
}

export function checkDType(s: unknown): DType {
  if (!isDType(s)) {
    throw new TypeError(`unknown dtype ${JSON.stringify(s)}; expected one of ${Object.keys(DTYPE_CODE).join(', ')}`);
  }
  return s;
}

export const BYTES_PER_ELEMENT: Record<DType, number> = {
  uint8: 1, int8: 1, int16: 2, int32: 4, int64: 8, float16: 2, float32: 4, float64: 8, bool: 1, bfloat16: 2,
};

export function isFloating(d: DType): boolean {
  return d === 'float16' || d === 'float32' || d === 'float64' || d === 'bfloat16';
}

/** What `Tensor.data()` returns for each dtype (half types are widened to float32). */
export type TypedArrayFor<D extends DType> = D extends 'float64'
  ? Float64Array
  : D extends 'int64'
    ? BigInt64Array
    : D extends 'int32'
      ? Int32Array
      : D extends 'int16'
        ? Int16Array
        : D extends 'int8'
          ? Int8Array
          : D extends 'uint8' | 'bool'
            ? Uint8Array
            : Float32Array;

export type AnyTypedArray =
  | Float32Array
  | Float64Array
  | BigInt64Array
  | Int32Array
  | Int16Array
  | Int8Array
  | Uint8Array;

export function checkDevice(d: unknown): Device {
  if (d === 'cpu' || d === 'cuda' || (typeof d === 'string' && /^cuda:\d+$/.test(d))) return d as Device;
  throw new TypeError(`unknown device ${JSON.stringify(d)}; expected 'cpu', 'cuda' or 'cuda:N'`);
}
