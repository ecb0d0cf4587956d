// Copies uPlot's prebuilt browser files into the output directory (argument 1, or
// `SADDLE_WEB_OUT`, or ./dist), where build.rs embeds them in the binary. uPlot ships a
// minified IIFE bundle, so no bundler is needed: the page's own sources are served as written.
import { copyFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";

const out = process.argv[2] || process.env.SADDLE_WEB_OUT || "dist";
mkdirSync(out, { recursive: true });
const dist = join("node_modules", "uplot", "dist");
copyFileSync(join(dist, "uPlot.iife.min.js"), join(out, "uplot.js"));
copyFileSync(join(dist, "uPlot.min.css"), join(out, "uplot.css"));
console.log(`uPlot copied to ${out}`);
