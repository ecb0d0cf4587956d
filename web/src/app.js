// The dashboard's shell: a hash router over the pages. Each page renders into <main> and
// returns a function that stops its timers and streams when the page is left.

import { h } from "./api.js";
import { chartsMode } from "./charts.js";
import { jobsPage } from "./jobs.js";
import { jobPage } from "./job.js";
import { newJobPage } from "./new-job.js";
import { sweepsPage, sweepPage } from "./sweeps.js";

const routes = [
  [/^#\/jobs\/([\w-]+)$/, (id) => jobPage(id), "jobs"],
  [/^#\/new$/, () => newJobPage(), "new"],
  [/^#\/sweeps\/([\w-]+)$/, (id) => sweepPage(id), "sweeps"],
  [/^#\/sweeps$/, () => sweepsPage(), "sweeps"],
  [/^(#\/jobs)?$/, () => jobsPage(), "jobs"],
];

let leave = () => {};

async function route() {
  leave();
  leave = () => {};
  const main = document.getElementById("page");
  main.replaceChildren();
  const hash = location.hash || "#/jobs";
  const match = routes.map(([pattern, page, nav]) => [hash.match(pattern), page, nav]).find(([m]) => m);
  if (!match) {
    main.append(h("p", {}, "No such page. ", h("a", { href: "#/jobs" }, "Back to the jobs.")));
    return;
  }
  const [m, page, nav] = match;
  for (const link of document.querySelectorAll("[data-nav]")) link.classList.toggle("active", link.dataset.nav === nav);
  const { element, stop } = await page(...m.slice(1));
  main.append(element);
  leave = stop || (() => {});
}

document.getElementById("charts-notice").hidden = chartsMode() !== "svg";
window.addEventListener("hashchange", route);
route();
