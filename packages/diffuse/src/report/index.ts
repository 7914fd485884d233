// Views of training runs: the loss plot (PNG/SVG through Vega-Lite), the report.html dashboard,
// and the data behind them, read from run folders.
export { readRunFolder, parseLog, RunFolderError, type RunData, type SeriesRow, type Hardware } from './run-folder.js';
export { renderChart, CHART_FONT, type RenderedChart } from './render-chart.js';
export { lossPlotSpec, renderLossPlot, writeLossPlot } from './loss-plot.js';
export { smoothSeries, autoSmoothWeight } from './smooth.js';
export { buildReportData, configDifferences, type ReportData, type RunView } from './report-data.js';
export { renderReportHtml } from './report-html.js';
export { RunReporter, writeHardware } from './run-reporter.js';
export { startBoard, BoardError, isLoopback, type Board, type BoardOptions } from './board-server.js';
export { writeNllReport, writeFidReport, nllBars } from './eval-report.js';
export { compareRuns, metricsOf, type Comparison, type MetricSummary } from './compare.js';
