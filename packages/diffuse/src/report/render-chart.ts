// Renders a Vega-Lite chart to SVG (Vega's own renderer, no browser) and to PNG (sharp, through
// librsvg). Text in the PNG needs a system font: `npm install` and .ci/run install
// fonts-dejavu-core, the font every chart here names first.
import sharp from 'sharp';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

/** The font charts ask for, with the fallbacks fontconfig resolves on most machines. */
export const CHART_FONT = 'DejaVu Sans, Verdana, Arial, sans-serif';

export interface RenderedChart {
  svg: string;
  png: Buffer;
}

/**
 * Renders a Vega-Lite spec.
 * @param spec the chart; its config gets CHART_FONT unless it names a font.
 * @param scale pixels per SVG unit in the PNG (2 = sharp on high-density screens).
 * @returns the SVG text and the PNG bytes.
 */
export async function renderChart(spec: TopLevelSpec, scale = 2): Promise<RenderedChart> {
  const withFont = { ...spec, config: { font: CHART_FONT, ...(spec.config ?? {}) } } as TopLevelSpec;
  // Warnings about a spec go nowhere: the specs are ours, and a user could do nothing about them.
  const quiet = vega.logger(vega.Error);
  const view = new vega.View(vega.parse(compile(withFont, { logger: quiet }).spec), { renderer: 'none', logLevel: vega.Error });
  try {
    const svg = await view.toSVG(scale);
    const png = await sharp(Buffer.from(svg)).png({ compressionLevel: 9 }).toBuffer();
    return { svg, png };
  } finally {
    view.finalize();
  }
}
