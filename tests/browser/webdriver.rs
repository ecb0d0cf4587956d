//! A small W3C WebDriver client over reqwest: chromedriver and headless Chromium from
//! Debian's packages, just the commands the tests use.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use reqwest::Client;
use serde_json::{json, Value};

/// The key under which WebDriver answers an element reference.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Where Debian installs them (`apt-get install chromium chromium-driver`); overridable.
fn binary(env: &str, default: &str) -> String {
    std::env::var(env).unwrap_or_else(|_| default.to_string())
}

/// A chromedriver process on a free port, killed when dropped.
pub struct Driver {
    process: Child,
    url: String,
    client: Client,
}

impl Driver {
    /// Starts chromedriver; panics with the fix when it or Chromium is missing, so a machine
    /// without them fails the suite instead of skipping it.
    pub async fn start() -> Self {
        let chromedriver = binary("CHROMEDRIVER", "/usr/bin/chromedriver");
        let chromium = binary("CHROMIUM", "/usr/bin/chromium");
        for (path, package) in [(&chromedriver, "chromium-driver"), (&chromium, "chromium")] {
            assert!(
                Path::new(path).exists(),
                "{path} is missing: the browser tests need Debian's `{package}` \
                 (apt-get install chromium chromium-driver; .ci/run does it)"
            );
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let process = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {chromedriver}: {e}"));
        let driver = Self {
            process,
            url: format!("http://127.0.0.1:{port}"),
            client: Client::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = driver
                .client
                .get(format!("{}/status", driver.url))
                .send()
                .await
                .ok();
            if let Some(response) = ready {
                let status: Value = response.json().await.unwrap_or_default();
                if status["value"]["ready"] == true {
                    return driver;
                }
            }
            assert!(Instant::now() < deadline, "chromedriver did not get ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A new headless Chromium session with a window of `width` × `height` CSS pixels.
    pub async fn session(&self, width: u32, height: u32) -> Session {
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": binary("CHROMIUM", "/usr/bin/chromium"),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--no-first-run", "--disable-extensions", "--disable-background-networking",
                         format!("--window-size={width},{height}")]
            },
            "goog:loggingPrefs": {"browser": "ALL"}
        }}});
        let answer = command(
            &self.client,
            "POST",
            &format!("{}/session", self.url),
            &capabilities,
        )
        .await
        .unwrap_or_else(|e| panic!("Chromium did not start: {e}"));
        let id = answer["sessionId"]
            .as_str()
            .expect("a session id")
            .to_string();
        Session {
            client: self.client.clone(),
            base: format!("{}/session/{id}", self.url),
            closed: false,
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// Sends one WebDriver command; the answer's `value`, or its error message.
async fn command(client: &Client, method: &str, url: &str, body: &Value) -> Result<Value, String> {
    let request = match method {
        "GET" => client.get(url),
        "DELETE" => client.delete(url),
        _ => client.post(url).json(body),
    };
    let response = request.send().await.map_err(|e| e.to_string())?;
    let ok = response.status().is_success();
    let answer: Value = response.json().await.map_err(|e| e.to_string())?;
    if ok {
        Ok(answer["value"].clone())
    } else {
        Err(format!(
            "{}: {}",
            answer["value"]["error"], answer["value"]["message"]
        ))
    }
}

/// One browser window.
pub struct Session {
    client: Client,
    base: String,
    closed: bool,
}

/// An element of the page.
#[derive(Clone, Debug)]
pub struct Element(String);

impl Session {
    async fn call(&self, method: &str, path: &str, body: Value) -> Value {
        command(&self.client, method, &format!("{}{path}", self.base), &body)
            .await
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"))
    }

    /// Opens `url`.
    pub async fn goto(&self, url: &str) {
        self.call("POST", "/url", json!({ "url": url })).await;
    }

    /// Goes to another page of the single-page app (`#/…`) without reloading.
    pub async fn goto_hash(&self, hash: &str) {
        self.execute("location.hash = arguments[0];", json!([hash]))
            .await;
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and returns its result.
    pub async fn execute(&self, script: &str, args: Value) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            json!({"script": script, "args": args}),
        )
        .await
    }

    /// The first element matching `css`, waiting up to `timeout` for it to appear.
    pub async fn wait_for(&self, css: &str, timeout: Duration) -> Element {
        let deadline = Instant::now() + timeout;
        loop {
            let found = command(
                &self.client,
                "POST",
                &format!("{}/element", self.base),
                &json!({"using": "css selector", "value": css}),
            )
            .await;
            if let Ok(value) = found {
                return Element(value[ELEMENT_KEY].as_str().expect("an element").to_string());
            }
            assert!(Instant::now() < deadline, "no `{css}` after {timeout:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until `script` (a function body) returns something truthy, and returns it.
    pub async fn wait_until(&self, what: &str, script: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let value = self.execute(script, json!([])).await;
            let truthy = match &value {
                Value::Null | Value::Bool(false) => false,
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            if truthy {
                return value;
            }
            assert!(Instant::now() < deadline, "{what}: not after {timeout:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Clicks `element`.
    pub async fn click(&self, element: &Element) {
        self.call("POST", &format!("/element/{}/click", element.0), json!({}))
            .await;
    }

    /// Empties a text field and types `text` into it, key by key.
    pub async fn type_into(&self, element: &Element, text: &str) {
        self.call("POST", &format!("/element/{}/clear", element.0), json!({}))
            .await;
        self.call(
            "POST",
            &format!("/element/{}/value", element.0),
            json!({ "text": text }),
        )
        .await;
    }

    /// The rendered text of `element`.
    pub async fn text(&self, element: &Element) -> String {
        let value = self
            .call("GET", &format!("/element/{}/text", element.0), json!({}))
            .await;
        value.as_str().unwrap_or_default().to_string()
    }

    /// Resizes the window (CSS pixels).
    pub async fn resize(&self, width: u32, height: u32) {
        self.call(
            "POST",
            "/window/rect",
            json!({"width": width, "height": height}),
        )
        .await;
    }

    /// Makes the page see `prefers-color-scheme: dark` (Chrome DevTools Protocol).
    pub async fn prefer_dark(&self) {
        self.call(
            "POST",
            "/goog/cdp/execute",
            json!({"cmd": "Emulation.setEmulatedMedia",
                   "params": {"features": [{"name": "prefers-color-scheme", "value": "dark"}]}}),
        )
        .await;
    }

    /// Saves a PNG of the window to `path`.
    pub async fn screenshot(&self, path: &Path) {
        let value = self.call("GET", "/screenshot", json!({})).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(value.as_str().expect("base64 PNG"))
            .expect("a PNG");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot directory");
        }
        std::fs::write(path, png).expect("screenshot written");
    }

    /// The browser console's entries since the last call (chromedriver's `goog:loggingPrefs`).
    pub async fn console(&self) -> Vec<Value> {
        let value = self
            .call("POST", "/se/log", json!({"type": "browser"}))
            .await;
        value.as_array().cloned().unwrap_or_default()
    }

    /// Closes the window and ends the browser.
    pub async fn quit(mut self) {
        let _ = command(&self.client, "DELETE", &self.base, &json!({})).await;
        self.closed = true;
    }
}

impl Drop for Session {
    /// A test that fails before `quit` still ends its browser: chromedriver, killed next,
    /// would leave it running. Blocking and raw, since `drop` cannot await.
    fn drop(&mut self) {
        if self.closed {
            return;
        }
        let Some((host, path)) = self
            .base
            .strip_prefix("http://")
            .and_then(|rest| rest.split_once('/'))
        else {
            return;
        };
        if let Ok(mut stream) = std::net::TcpStream::connect(host) {
            use std::io::{Read, Write};
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let request = format!(
                "DELETE /{path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            if stream.write_all(request.as_bytes()).is_ok() {
                let _ = stream.read_to_end(&mut Vec::new());
            }
        }
    }
}
