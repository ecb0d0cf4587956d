//! Brings the dashboard's charting library (uPlot, from npm) into the binary.
//!
//! Runs `npm ci && npm run build` on a copy of `web/`'s package files inside OUT_DIR (so the
//! source tree is never written to), which leaves `uplot.js` and `uplot.css` there for
//! `include_bytes!`. Without npm, offline, or with `SADDLE_SKIP_WEB_BUILD=1`, both files are
//! written empty: the build still succeeds and the dashboard shows the server-drawn SVG plots.
//! Reruns only when the package files change; the page's own sources are embedded directly.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The files npm needs, watched for changes.
const PACKAGE_FILES: [&str; 3] = ["package.json", "package-lock.json", "build.mjs"];
/// What `npm run build` leaves in the output directory.
const OUTPUTS: [&str; 2] = ["uplot.js", "uplot.css"];

fn main() {
    println!("cargo:rerun-if-env-changed=SADDLE_SKIP_WEB_BUILD");
    for file in PACKAGE_FILES {
        println!("cargo:rerun-if-changed=web/{file}");
    }
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let skip = std::env::var("SADDLE_SKIP_WEB_BUILD").is_ok_and(|v| !v.is_empty() && v != "0");
    let built = if skip {
        Err("SADDLE_SKIP_WEB_BUILD is set".to_string())
    } else {
        build_with_npm(&out)
    };
    if let Err(why) = built {
        println!(
            "cargo:warning=dashboard charts not built ({why}); the page will show the server's SVG plots"
        );
        for name in OUTPUTS {
            std::fs::write(out.join(name), b"").expect("OUT_DIR is writable");
        }
    }
}

fn build_with_npm(out: &Path) -> Result<(), String> {
    let work = out.join("web");
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    for file in PACKAGE_FILES {
        std::fs::copy(Path::new("web").join(file), work.join(file))
            .map_err(|e| format!("copying web/{file}: {e}"))?;
    }
    // --prefer-offline: the npm cache (filled by .ci/run's `npm ci`) is enough, no network.
    npm(
        &work,
        &["ci", "--prefer-offline", "--no-audit", "--no-fund"],
    )?;
    let out_arg = out.to_str().ok_or("OUT_DIR is not UTF-8")?;
    npm(&work, &["run", "build", "--", out_arg])?;
    for name in OUTPUTS {
        let size = std::fs::metadata(out.join(name)).map_or(0, |m| m.len());
        if size == 0 {
            return Err(format!("npm run build left no {name}"));
        }
    }
    Ok(())
}

fn npm(dir: &Path, args: &[&str]) -> Result<(), String> {
    let output = Command::new("npm")
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| format!("npm not runnable: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().rev().find(|l| !l.trim().is_empty());
        Err(format!(
            "`npm {}` failed: {}",
            args.join(" "),
            last.unwrap_or("no message")
        ))
    }
}
