//! The dashboard in a real headless Chromium (Debian's `chromium` + `chromium-driver`),
//! against the real server: forms, live charts, sweeps, expression errors. Every test checks
//! that the browser console stayed free of errors and that the page fetched nothing from any
//! other host. Screenshots go to `$CARGO_TARGET_TMPDIR/browser-screenshots` (target/tmp/…),
//! or to `SADDLE_SCREENSHOT_DIR`.

/// The backend of the servers' databases (`helpers::TestDatabase`): the dashboard does not
/// depend on it.
pub const BACKEND: saddle::store::Backend = saddle::store::Backend::Sqlite;

#[allow(dead_code)]
#[path = "../api/helpers.rs"]
mod helpers;
mod webdriver;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};

use helpers::TestApp;
use webdriver::{Driver, Session};

const SHORT: Duration = Duration::from_secs(10);
const JOB_RUN: Duration = Duration::from_secs(60);

/// The colour of a single job's curves and path (PALETTE[0] in web/src/charts.js).
const RUN_COLOUR: [u8; 3] = [0xe4, 0x57, 0x2e];

fn screenshot_path(name: &str) -> PathBuf {
    let dir = std::env::var_os("SADDLE_SCREENSHOT_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser-screenshots"),
        PathBuf::from,
    );
    dir.join(format!("{name}.png"))
}

/// The server, chromedriver and one browser window on the dashboard.
struct Harness {
    app: TestApp,
    browser: Session,
    _driver: Driver,
}

impl Harness {
    async fn start() -> Self {
        let app = TestApp::spawn().await;
        let driver = Driver::start().await;
        let browser = driver.session(1280, 1000).await;
        Self {
            app,
            browser,
            _driver: driver,
        }
    }

    /// Opens a page of the dashboard (`route` is the part after `#`).
    async fn open(&self, query: &str, route: &str) {
        self.browser
            .goto(&format!("{}/{query}#{route}", self.app.address))
            .await;
    }

    /// Whether the page runs with uPlot (else it shows the server's SVG plots). In CI the
    /// binary must have been built with it: a build that silently fell back fails there.
    async fn has_uplot(&self) -> bool {
        let has = self
            .browser
            .execute("return typeof window.uPlot === 'function';", json!([]))
            .await
            == json!(true);
        if std::env::var_os("CI").is_some() {
            assert!(has, "CI builds the dashboard with uPlot (npm ci in web/)");
        }
        has
    }

    /// How many pixels of the canvases under `selector` have about `colour`.
    async fn pixels_of(&self, selector: &str, colour: [u8; 3]) -> u64 {
        let script = "const [selector, rgb] = arguments; let n = 0;
            for (const c of document.querySelectorAll(selector)) {
              if (!c.width || !c.height) continue;
              const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
              for (let i = 0; i < d.length; i += 4)
                if (d[i + 3] > 200 && Math.abs(d[i] - rgb[0]) < 40 && Math.abs(d[i + 1] - rgb[1]) < 40
                    && Math.abs(d[i + 2] - rgb[2]) < 40) n++;
            }
            return n;";
        let value = self
            .browser
            .execute(script, json!([selector, colour]))
            .await;
        value.as_u64().unwrap_or(0)
    }

    /// How many distinct colours the canvases under `selector` hold (a shaded landscape has many).
    async fn colours_in(&self, selector: &str) -> u64 {
        let script = "const seen = new Set();
            for (const c of document.querySelectorAll(arguments[0])) {
              if (!c.width || !c.height) continue;
              const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
              for (let i = 0; i < d.length; i += 4) seen.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
            }
            return seen.size;";
        let value = self.browser.execute(script, json!([selector])).await;
        value.as_u64().unwrap_or(0)
    }

    /// Waits until every `img` under `selector` has loaded a picture.
    async fn wait_images(&self, selector: &str, count: usize) {
        let script = format!(
            "const imgs = [...document.querySelectorAll('{selector}')];
             return imgs.length >= {count} && imgs.every(i => i.complete && i.naturalWidth > 0);"
        );
        self.browser
            .wait_until(&format!("{count} images `{selector}`"), &script, JOB_RUN)
            .await;
    }

    /// The browser reported no error, and loaded nothing from anywhere but the server.
    /// `expected` lists (path, status) of API answers the test provoked on purpose: Chromium
    /// logs every 4xx answer to a fetch as a console error.
    async fn assert_clean(&self, expected: &[(&str, u16)]) {
        let provoked = |entry: &Value| {
            let message = entry["message"].as_str().unwrap_or_default();
            entry["source"] == "network"
                && expected.iter().any(|(path, status)| {
                    message.starts_with(&format!("{}{path} ", self.app.address))
                        && message.contains(&format!("status of {status} "))
                })
        };
        let errors: Vec<Value> = self
            .browser
            .console()
            .await
            .into_iter()
            .filter(|entry| entry["level"] == "SEVERE" && !provoked(entry))
            .collect();
        assert!(errors.is_empty(), "browser console errors: {errors:#?}");
        let resources = self
            .browser
            .execute(
                "return performance.getEntriesByType('resource').map(e => e.name)
                   .concat([location.href]);",
                json!([]),
            )
            .await;
        let origin = format!("{}/", self.app.address);
        for url in resources.as_array().expect("a list") {
            let url = url.as_str().unwrap_or_default();
            assert!(url.starts_with(&origin), "the page loaded {url}");
        }
    }

    /// Scrolls `selector` to the top of the window and saves a screenshot.
    async fn screenshot_of(&self, selector: &str, name: &str) {
        self.browser
            .execute(
                "document.querySelector(arguments[0])?.scrollIntoView();",
                json!([selector]),
            )
            .await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        self.browser.screenshot(&screenshot_path(name)).await;
    }

    async fn stop(self) {
        self.browser.quit().await;
        self.app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rosenbrock_job_made_with_the_form_finishes_with_its_charts_and_diagnosis() {
    let h = Harness::start().await;
    h.open("", "/new").await;
    let b = &h.browser;
    // The form comes from the catalogues: Rosenbrock and Adam are there and chosen.
    b.wait_for("#optimizer option[value='adam']", SHORT).await;
    b.click(
        &b.wait_for("#function option[value='rosenbrock']", SHORT)
            .await,
    )
    .await;
    b.click(&b.wait_for("#optimizer option[value='adam']", SHORT).await)
        .await;
    b.type_into(&b.wait_for("#opt-lr", SHORT).await, "0.05")
        .await;
    b.type_into(&b.wait_for("#max-steps", SHORT).await, "2000")
        .await;
    b.type_into(&b.wait_for("#job-name", SHORT).await, "banana")
        .await;
    let request: Value =
        serde_json::from_str(&b.text(&b.wait_for("#request-json", SHORT).await).await)
            .expect("the preview is the JSON request");
    assert_eq!(
        request,
        json!({"problem": {"kind": "builtin", "name": "rosenbrock"}, "initial": [-1.5, 2],
               "optimizer": {"name": "adam", "lr": 0.05}, "stop": {"max_steps": 2000}, "name": "banana"})
    );
    let curl = b.text(&b.wait_for("#request-curl", SHORT).await).await;
    assert!(
        curl.starts_with("curl -s -X POST") && curl.contains("/v1/jobs"),
        "{curl}"
    );
    b.screenshot(&screenshot_path("new-job-form")).await;

    b.click(&b.wait_for("#submit", SHORT).await).await;
    b.wait_until(
        "the job succeeded",
        "const s = document.querySelector('#job-status'); return s && s.textContent === 'succeeded';",
        JOB_RUN,
    )
    .await;
    let feature = b
        .wait_until(
            "the diagnosis",
            "const d = document.querySelector('#diagnosis-feature'); return d && d.dataset.feature;",
            SHORT,
        )
        .await;
    assert_eq!(feature, "local_minimum");
    let summary = b.text(&b.wait_for("#job-summary", SHORT).await).await;
    assert!(
        summary.contains("max_steps") && summary.contains("final loss"),
        "{summary}"
    );

    if h.has_uplot().await {
        // The loss curve is drawn in the run's colour, and so is the path over the contours.
        b.wait_for("#chart-loss canvas", SHORT).await;
        let loss_pixels = h.pixels_of("#chart-loss canvas", RUN_COLOUR).await;
        assert!(loss_pixels > 200, "loss curve: {loss_pixels} pixels");
        b.wait_until(
            "the landscape is sampled",
            "return document.querySelector('#trajectory canvas')?.width > 0;",
            SHORT,
        )
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let path_pixels = h.pixels_of("#trajectory canvas", RUN_COLOUR).await;
        assert!(path_pixels > 100, "trajectory: {path_pixels} pixels");
        let colours = h.colours_in("#trajectory canvas").await;
        assert!(colours > 30, "the contours are shaded: {colours} colours");
        // The log switch redraws the curve on a linear axis.
        b.click(&b.wait_for("#log-scale", SHORT).await).await;
        let linear_pixels = h.pixels_of("#chart-loss canvas", RUN_COLOUR).await;
        assert!(
            linear_pixels > 100,
            "linear loss curve: {linear_pixels} pixels"
        );
    } else {
        h.wait_images(
            "#chart-loss img, #chart-grad img, #chart-lr img, #trajectory img",
            4,
        )
        .await;
    }
    b.screenshot(&screenshot_path("job-rosenbrock-adam")).await;
    h.screenshot_of("#trajectory", "job-rosenbrock-adam-trajectory")
        .await;
    // Continue it: a new job from the final state, linked back to this one.
    let first_url = b.execute("return location.hash;", json!([])).await;
    b.click(&b.wait_for("#continue", SHORT).await).await;
    b.wait_until(
        "the continuation succeeded",
        "return document.querySelector('a[href^=\"#/jobs/\"]')?.textContent === '← continued from'
           && document.querySelector('#job-status')?.textContent === 'succeeded';",
        JOB_RUN,
    )
    .await;
    let step = b
        .wait_until(
            "the continuation's own count",
            "return document.querySelector('#job-step')?.textContent.includes('in this job')
               && document.querySelector('#job-step').textContent;",
            SHORT,
        )
        .await;
    assert_eq!(step, "step 2500 (500 of 500 in this job)");
    b.goto_hash(first_url.as_str().unwrap()).await;

    // The jobs list shows it, finished, with its final loss.
    h.open("", "/jobs").await;
    let listed = b
        .wait_until(
            "the job in the list",
            "const row = document.querySelector('#jobs-table tr[data-status=succeeded]');
             return row && row.textContent;",
            SHORT,
        )
        .await;
    let listed = listed.as_str().unwrap();
    assert!(
        listed.contains("banana") && listed.contains("builtin") && listed.contains("adam"),
        "{listed}"
    );
    b.screenshot(&screenshot_path("jobs-list")).await;
    b.goto_hash(first_url.as_str().unwrap()).await;
    b.wait_for("#chart-loss", SHORT).await;
    b.resize(390, 844).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    b.screenshot(&screenshot_path("job-rosenbrock-adam-phone"))
        .await;
    h.assert_clean(&[]).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_of_three_optimizers_on_the_saddle_fills_its_leaderboard() {
    let h = Harness::start().await;
    // This one runs in dark mode, for its screenshots.
    h.browser.prefer_dark().await;
    h.open("", "/sweeps").await;
    let b = &h.browser;
    let dark = b
        .execute(
            "return matchMedia('(prefers-color-scheme: dark)').matches;",
            json!([]),
        )
        .await;
    assert_eq!(dark, json!(true));
    b.click(&b.wait_for("#function option[value='saddle']", SHORT).await)
        .await;
    for name in ["sgd", "adam", "rmsprop"] {
        let checked = b
            .execute(
                "return document.querySelector(`input[name=optimizer][value=${arguments[0]}]`).checked;",
                json!([name]),
            )
            .await;
        assert_eq!(checked, json!(true), "{name} is picked by default");
    }
    b.type_into(&b.wait_for("#sweep-lrs", SHORT).await, "0.05")
        .await;
    b.type_into(&b.wait_for("#sweep-max-steps", SHORT).await, "200")
        .await;
    b.click(&b.wait_for("#launch-sweep", SHORT).await).await;

    let labels = b
        .wait_until(
            "three finished runs on the leaderboard",
            "const rows = [...document.querySelectorAll('#leaderboard tbody tr')];
             return rows.length === 3 && rows.every(r => r.dataset.status === 'succeeded')
               && rows.map(r => r.children[1].textContent).sort().join(' | ');",
            JOB_RUN,
        )
        .await;
    assert_eq!(labels, "adam lr=0.05 | rmsprop lr=0.05 | sgd lr=0.05");
    let progress = b.text(&b.wait_for("#sweep-progress", SHORT).await).await;
    assert_eq!(progress, "3 of 3 finished");

    if h.has_uplot().await {
        b.wait_for("#sweep-curves canvas", SHORT).await;
        b.wait_until(
            "the paths over the contours",
            "return document.querySelector('#sweep-trajectories canvas')?.width > 0;",
            SHORT,
        )
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        // Three runs, three colours (PALETTE[0..3]) on the overlay and on the contour plot.
        for colour in [RUN_COLOUR, [0x2e, 0x86, 0xab], [0x59, 0xa1, 0x4f]] {
            let curve = h.pixels_of("#sweep-curves canvas", colour).await;
            assert!(curve > 50, "curve {colour:?}: {curve} pixels");
            let path = h.pixels_of("#sweep-trajectories canvas", colour).await;
            assert!(path > 20, "path {colour:?}: {path} pixels");
        }
    } else {
        h.wait_images("#sweep-curves img", 1).await;
    }
    b.screenshot(&screenshot_path("sweep-saddle")).await;
    h.screenshot_of("#sweep-trajectories", "sweep-saddle-trajectories")
        .await;
    h.assert_clean(&[]).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_expression_shows_its_error_at_its_column() {
    let h = Harness::start().await;
    h.open("", "/new").await;
    let b = &h.browser;
    b.click(
        &b.wait_for("#problem-kind option[value='expression']", SHORT)
            .await,
    )
    .await;
    let expression = b.wait_for("#expression", SHORT).await;
    // One `)` too many, at column 26.
    b.type_into(&expression, "(1 - x)^2 + 100*(y - x^2))^2")
        .await;
    let column = b
        .wait_until(
            "the error's column",
            "const c = document.querySelector('#expression-check');
             return c.dataset.expression === arguments[0] && c.dataset.state === 'error'
               && document.querySelector('#expression-marked').dataset.column;"
                .replace("arguments[0]", "'(1 - x)^2 + 100*(y - x^2))^2'")
                .as_str(),
            SHORT,
        )
        .await;
    assert_eq!(column, "26");
    let fault = b.text(&b.wait_for("#expression-fault", SHORT).await).await;
    assert_eq!(fault, ")");
    let message = b.text(&b.wait_for("#expression-error", SHORT).await).await;
    assert!(message.contains("unmatched `)` at column 26"), "{message}");
    b.screenshot(&screenshot_path("expression-error")).await;

    // Fixed, it is checked again and evaluated at the initial point.
    b.type_into(&expression, "(1 - x)^2 + 100*(y - x^2)^2")
        .await;
    b.type_into(&b.wait_for("#initial", SHORT).await, "-1.5, 2")
        .await;
    let verdict = b
        .wait_until(
            "the expression is accepted",
            "const c = document.querySelector('#expression-check');
             return c.dataset.state === 'ok' && c.textContent.includes('f(initial)')
               && c.textContent.includes('= 12.5') && c.textContent;",
            SHORT,
        )
        .await;
    assert!(verdict.as_str().unwrap().contains("= 12.5"), "{verdict}");
    h.assert_clean(&[("/v1/evaluate", 422)]).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_charting_library_the_page_shows_the_server_plots_and_says_so() {
    let h = Harness::start().await;
    let job = h.app.submit(&helpers::rosenbrock_adam(300)).await;
    let id = job["id"].as_str().unwrap();
    h.app.wait_finished(id, JOB_RUN).await;
    // `?svg` makes the page behave as in a build without npm.
    h.open("?svg", &format!("/jobs/{id}")).await;
    let b = &h.browser;
    let notice = b
        .wait_until(
            "the notice",
            "const n = document.querySelector('#charts-notice'); return !n.hidden && n.textContent;",
            SHORT,
        )
        .await;
    assert!(notice.as_str().unwrap().contains("SVG"), "{notice}");
    h.wait_images(
        "#chart-loss img, #chart-grad img, #chart-lr img, #trajectory img",
        4,
    )
    .await;
    let sources = b
        .execute(
            "return [...document.querySelectorAll('img.svg-plot')]
               .map(i => new URL(i.dataset.src, location.href).pathname);",
            json!([]),
        )
        .await;
    let expected = [
        format!("/v1/jobs/{id}/plots/loss.svg"),
        format!("/v1/jobs/{id}/plots/trajectory.svg"),
    ];
    for path in expected {
        assert!(
            sources
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s == &json!(path)),
            "{path} not in {sources}"
        );
    }
    b.screenshot(&screenshot_path("job-svg-fallback")).await;
    h.assert_clean(&[]).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_stuck_on_the_saddle_shows_the_escape_direction() {
    let h = Harness::start().await;
    // Gradient descent from (1, 0) slides along y = 0 into the saddle point at the origin.
    let job = h
        .app
        .submit(&json!({
            "problem": {"kind": "builtin", "name": "saddle"}, "initial": [1.0, 0.0],
            "optimizer": {"name": "sgd", "lr": 0.1}, "stop": {"max_steps": 300}
        }))
        .await;
    let id = job["id"].as_str().unwrap();
    h.app.wait_finished(id, JOB_RUN).await;
    h.open("", &format!("/jobs/{id}")).await;
    let b = &h.browser;
    let feature = b
        .wait_until(
            "the diagnosis",
            "return document.querySelector('#diagnosis-feature')?.dataset.feature;",
            SHORT,
        )
        .await;
    assert_eq!(feature, "saddle_point");
    let text = b.text(&b.wait_for("#diagnosis", SHORT).await).await;
    assert!(text.contains("Escape direction: [0, 1]"), "{text}");
    if h.has_uplot().await {
        b.wait_until(
            "the landscape is sampled",
            "return document.querySelector('#trajectory canvas')?.width > 0;",
            SHORT,
        )
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        // The double arrow is drawn in the accent colour (--accent, light theme).
        let arrow = h.pixels_of("#trajectory canvas", [0x6f, 0x2d, 0xbd]).await;
        assert!(arrow > 100, "escape arrow: {arrow} pixels");
    }
    h.screenshot_of("#trajectory", "job-saddle-escape").await;
    h.assert_clean(&[]).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_job_streams_its_curve_and_can_be_cancelled_from_its_page() {
    let h = Harness::start().await;
    // Long enough to be watched while it runs.
    let job = h
        .app
        .submit(&json!({
            "problem": {"kind": "builtin", "name": "rosenbrock"}, "initial": [-1.5, 2.0],
            "optimizer": {"name": "sgd", "lr": 1e-5}, "stop": {"max_steps": 10_000_000u64},
            "record": {"every": 100}
        }))
        .await;
    let id = job["id"].as_str().unwrap();
    h.open("", &format!("/jobs/{id}")).await;
    let b = &h.browser;
    b.wait_until(
        "the job runs",
        "return document.querySelector('#job-status')?.textContent === 'running';",
        SHORT,
    )
    .await;
    let first = b
        .wait_until(
            "steps streamed in",
            "const s = document.querySelector('#job-step')?.textContent.match(/step (\\d+)/);
             return s && Number(s[1]);",
            SHORT,
        )
        .await;
    let later = b
        .wait_until(
            "more steps streamed in",
            &format!(
                "const s = document.querySelector('#job-step')?.textContent.match(/step (\\d+)/);
                 return s && Number(s[1]) > {first} && Number(s[1]);"
            ),
            SHORT,
        )
        .await;
    assert!(later.as_u64() > first.as_u64());
    if h.has_uplot().await {
        let pixels = h.pixels_of("#chart-loss canvas", RUN_COLOUR).await;
        assert!(pixels > 20, "the live curve: {pixels} pixels");
    }
    b.click(&b.wait_for("#cancel", SHORT).await).await;
    b.wait_until(
        "the job is cancelled",
        "return document.querySelector('#job-status')?.textContent === 'cancelled';",
        SHORT,
    )
    .await;
    let job: Value = h
        .app
        .get(&format!("/v1/jobs/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(job["status"], "cancelled");
    h.assert_clean(&[]).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dataset_uploaded_from_the_form_trains_a_model() {
    let h = Harness::start().await;
    // Two separable classes along x1 + x2.
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("halves.csv");
    let mut rows = String::from("x1,x2,label\n");
    for i in 0..60 {
        let (a, b) = (f64::from(i % 10) / 10.0, f64::from(i / 10) / 6.0);
        rows.push_str(&format!("{a},{b},{}\n", u8::from(a + b > 0.9)));
    }
    std::fs::write(&csv, rows).unwrap();

    h.open("", "/new").await;
    let b = &h.browser;
    b.click(
        &b.wait_for("#problem-kind option[value='model']", SHORT)
            .await,
    )
    .await;
    let file = b.wait_for("#upload-file", SHORT).await;
    b.type_into(&file, csv.to_str().unwrap()).await;
    b.type_into(&b.wait_for("#upload-target", SHORT).await, "label")
        .await;
    b.click(&b.wait_for("#upload-dataset", SHORT).await).await;
    let picked = b
        .wait_until(
            "the uploaded dataset is picked",
            "const s = document.querySelector('#dataset'); return s.value && s.selectedOptions[0].textContent;",
            SHORT,
        )
        .await;
    assert_eq!(picked, "halves (60×3)");
    b.click(
        &b.wait_for("#model-type option[value='logistic']", SHORT)
            .await,
    )
    .await;
    b.type_into(&b.wait_for("#opt-lr", SHORT).await, "0.5")
        .await;
    b.type_into(&b.wait_for("#max-steps", SHORT).await, "300")
        .await;
    let request: Value =
        serde_json::from_str(&b.text(&b.wait_for("#request-json", SHORT).await).await).unwrap();
    assert_eq!(request["problem"]["kind"], "model");
    assert_eq!(request["problem"]["model"], json!({"type": "logistic"}));
    assert!(request["problem"]["dataset_id"].is_string(), "{request}");
    b.click(&b.wait_for("#submit", SHORT).await).await;
    b.wait_until(
        "the model is trained",
        "return document.querySelector('#job-status')?.textContent === 'succeeded';",
        JOB_RUN,
    )
    .await;
    if h.has_uplot().await {
        b.wait_for("#chart-loss canvas", SHORT).await;
        let pixels = h.pixels_of("#chart-loss canvas", RUN_COLOUR).await;
        assert!(pixels > 100, "loss curve: {pixels} pixels");
    }
    // A model's parameters are no 2-D path.
    let hidden = b
        .execute(
            "return document.querySelector('#trajectory').closest('.panel').hidden;",
            json!([]),
        )
        .await;
    assert_eq!(hidden, json!(true));
    b.screenshot(&screenshot_path("job-model")).await;
    h.assert_clean(&[]).await;
    h.stop().await;
}
