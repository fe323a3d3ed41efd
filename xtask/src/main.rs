//! Project automation, run as `cargo xtask <task>` (std plus serde_json, toml and semver, so it
//! builds in seconds).
//!
//! - `ci`: what CI runs — layering check, the no-import-circles check (`modules`), fmt check, clippy `-D warnings`, tests, the demo, rustdoc
//!   `-D warnings`, the `redis` feature's tests against a real redis-server (`REDIS_URL`; they fail
//!   without one unless `WXKF_SKIP_REDIS=1`, which CI never sets), and `release-check`; with
//!   `CI=true` also every fuzz target for 20 s.
//! - `release-check`: every publishable crate has its own version, every path dependency a
//!   version requirement, every crate changed since its last release a higher version, and
//!   `cargo package --workspace` succeeds. What "last release" means (git tags
//!   `NAME-vVERSION`, else the record `xtask/releases.toml`) is in the `release` module and in
//!   CONTRIBUTING.md. cargo-semver-checks is not run: it is a ~400-crate build, too heavy for the
//!   2-core machines (CONTRIBUTING.md).
//! - `fuzz [SECONDS]`: every cargo-fuzz target for a bounded time each (installs cargo-fuzz and a
//!   nightly-free toolchain setting as needed).
//! - `bench`: the criterion benches.
//! - `modules`: no import circles between the files of any crate (see the `modules` module).

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

mod modules;
mod release;

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("fuzz") => fuzz(args.get(1).map(String::as_str)),
        Some("bench") => bench(&args[1..]),
        Some("layers") => check_layers(),
        Some("modules") => modules::check(&root()),
        Some("release-check") => release_check(),
        _ => {
            eprintln!(
                "usage: cargo xtask <ci | fuzz [SECONDS] | bench [ARGS] | layers | modules | release-check>"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn root() -> PathBuf {
    // xtask/ sits directly below the workspace root.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn run(program: &str, args: &[&str]) -> Result<(), String> {
    run_in(&root(), program, args, &[])
}

fn run_in(dir: &Path, program: &str, args: &[&str], envs: &[(&str, &str)]) -> Result<(), String> {
    let started = Instant::now();
    eprintln!("$ {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .current_dir(dir)
        .envs(envs.iter().copied())
        .status()
        .map_err(|e| format!("could not start {program}: {e}"))?;
    eprintln!("  ({:.1}s)", started.elapsed().as_secs_f64());
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{program} {}` failed with {status}", args.join(" ")))
    }
}

fn ci() -> Result<(), String> {
    check_layers()?;
    modules::check(&root())?;
    // release-check's quick part first (versions, path dependencies); its packaging runs below
    let metadata = check_release_versions()?;
    run("cargo", &["fmt", "--all", "--check"])?;
    run("cargo", &["clippy", "--workspace", "--all-targets", "--locked", "--", "-D", "warnings"])?;
    run("cargo", &["test", "--workspace", "--all-targets", "--locked"])?;
    // doc tests are not part of --all-targets
    run("cargo", &["test", "--workspace", "--doc", "--locked"])?;
    // the Redis stores (feature `redis`) against a real redis-server at REDIS_URL; without one the
    // tests fail (WXKF_SKIP_REDIS=1 skips them on purpose; CI never sets it)
    redis_tests_required(env::var("CI").ok().as_deref(), env::var("WXKF_SKIP_REDIS").ok().as_deref())?;
    let redis = ["-p", "wxkf-client", "-p", "wxkf-bot", "--locked", "--features", "redis"];
    run("cargo", &[&["clippy", "--all-targets"][..], &redis, &["--", "-D", "warnings"]].concat())?;
    run("cargo", &[&["test", "--all-targets"][..], &redis].concat())?;
    // the README's first command, so it never rots (it bounds itself to 120 s)
    run("cargo", &["run", "--locked", "--example", "demo"])?;
    run("cargo", &["run", "--locked", "--example", "llm_demo"])?;
    run("cargo", &["run", "--locked", "-p", "wxkf-gateway", "--example", "gateway_demo"])?;
    run_in(
        &root(),
        "cargo",
        &["doc", "--workspace", "--no-deps", "--locked"],
        &[("RUSTDOCFLAGS", "-D warnings")],
    )?;
    // the rest of release-check: `cargo package`, a verified build of every crate
    package_workspace(&metadata)?;
    // In CI, also fuzz every parser briefly (locally: `cargo xtask fuzz [SECONDS]`).
    if env::var("CI").as_deref() == Ok("true") {
        fuzz(Some("20"))?;
    }
    Ok(())
}

/// Under `CI=true` the Redis tests must run: `WXKF_SKIP_REDIS` set at all is an error there.
fn redis_tests_required(ci: Option<&str>, skip: Option<&str>) -> Result<(), String> {
    match (ci, skip) {
        (Some("true"), Some(value)) => {
            Err(format!("WXKF_SKIP_REDIS={value} is set under CI=true: CI runs the Redis tests, unset it"))
        }
        _ => Ok(()),
    }
}

/// `cargo xtask release-check`: see the `release` module.
fn release_check() -> Result<(), String> {
    let metadata = check_release_versions()?;
    package_workspace(&metadata)
}

/// release-check's checks 1 to 3; returns `cargo metadata --no-deps` output for the packaging.
fn check_release_versions() -> Result<serde_json::Value, String> {
    let started = Instant::now();
    let out = Command::new("cargo")
        .args(["metadata", "--format-version", "1", "--no-deps", "--locked"])
        .current_dir(root())
        .output()
        .map_err(|e| format!("could not start cargo metadata: {e}"))?;
    if !out.status.success() {
        return Err(format!("cargo metadata failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    let metadata: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("cargo metadata printed no JSON: {e}"))?;
    // cargo reports absolute paths; compare them with the root cargo itself saw
    let workspace_root = metadata["workspace_root"].as_str().map(PathBuf::from).unwrap_or_else(root);
    match release::check_versions(&workspace_root, &metadata) {
        Ok(lines) => {
            for line in lines {
                eprintln!("release-check: {line}");
            }
        }
        Err(problems) => {
            return Err(format!(
                "release-check found {} problem(s):\n- {}",
                problems.len(),
                problems.join("\n- ")
            ));
        }
    }
    eprintln!("release-check: versions and path dependencies ok ({:.1}s)", started.elapsed().as_secs_f64());
    Ok(metadata)
}

/// release-check's check 4: `cargo package` of every publishable crate.
fn package_workspace(metadata: &serde_json::Value) -> Result<(), String> {
    // every publishable crate, verified: built from its .crate with its siblings from the packages
    // just made. --allow-dirty: this checks packaging, it does not publish.
    let mut args =
        vec!["package".to_owned(), "--workspace".into(), "--locked".into(), "--allow-dirty".into()];
    let unpublishable = release::unpublishable_names(metadata);
    forget_stale_unpacks(metadata, &unpublishable);
    for name in unpublishable {
        args.extend(["--exclude".to_owned(), name]);
    }
    run("cargo", &args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// The verification of `cargo package --workspace` unpacks each sibling's .crate under
/// `$CARGO_HOME/registry/src/<index>/<name>-<version>` and reuses such a directory if one is there:
/// on a machine that packaged an earlier state of the same version, the siblings would be built
/// from that stale copy. The workspace's crates are not taken from crates.io, so their unpacked
/// copies (and cached .crate files) of the current versions are removed first.
fn forget_stale_unpacks(metadata: &serde_json::Value, unpublishable: &[String]) {
    let Some(home) = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
    else {
        return;
    };
    let Some(packages) = metadata["packages"].as_array() else { return };
    let members: Vec<String> = packages
        .iter()
        .filter_map(|p| Some(format!("{}-{}", p["name"].as_str()?, p["version"].as_str()?)))
        .filter(|nv| !unpublishable.iter().any(|u| nv.starts_with(&format!("{u}-"))))
        .collect();
    for (dir, suffix) in [("src", ""), ("cache", ".crate")] {
        let Ok(indexes) = std::fs::read_dir(home.join("registry").join(dir)) else { continue };
        for index in indexes.flatten() {
            for member in &members {
                let path = index.path().join(format!("{member}{suffix}"));
                let _ = if suffix.is_empty() {
                    std::fs::remove_dir_all(&path)
                } else {
                    std::fs::remove_file(&path)
                };
            }
        }
    }
}

/// Crates in layer order: a crate may depend only on crates listed before it.
const LAYERS: &[&str] = &[
    "wxkf-crypto",
    "wxkf-types",
    "wxkf-client",
    "wxkf-bot",
    "wxkf-axum",
    "wxkf-sim",
    "wxkf-cli",
    "wxkf-gateway",
];

/// Dependencies point one way: no crate depends on a crate above it, and crypto and types (the
/// bottom layer) do not depend on each other.
fn check_layers() -> Result<(), String> {
    let mut problems = Vec::new();
    for (i, name) in LAYERS.iter().enumerate() {
        let manifest = root().join("crates").join(name).join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else { continue };
        let forbidden: Vec<&str> = match *name {
            "wxkf-crypto" => LAYERS[1..].to_vec(),
            "wxkf-types" => {
                let mut v = vec!["wxkf-crypto"];
                v.extend(&LAYERS[2..]);
                v
            }
            _ => LAYERS[i + 1..].to_vec(),
        };
        for line in text.lines() {
            let dep = line.split(['=', '.', ' ']).next().unwrap_or("").trim();
            if forbidden.contains(&dep) {
                problems.push(format!("{name} depends on {dep}, which sits above it (or beside it)"));
            }
        }
    }
    if problems.is_empty() {
        eprintln!("layers: ok");
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// Runs every cargo-fuzz target of every crate for SECONDS each (default 30), seeded from
/// `fuzz/seeds/<target>`. cargo-fuzz wants a nightly compiler, which CI machines cannot fetch, so
/// the stable toolchain is used with RUSTC_BOOTSTRAP=1 for the sanitizer flags.
fn fuzz(seconds: Option<&str>) -> Result<(), String> {
    let seconds = seconds.unwrap_or("30");
    seconds.parse::<u32>().map_err(|_| format!("SECONDS must be a whole number, not {seconds:?}"))?;
    if Command::new("cargo").args(["fuzz", "--version"]).output().map(|o| !o.status.success()).unwrap_or(true)
    {
        run("cargo", &["install", "cargo-fuzz", "--locked"])?;
    }
    let mut ran = 0;
    for krate in std::fs::read_dir(root().join("crates")).map_err(|e| e.to_string())? {
        let dir = krate.map_err(|e| e.to_string())?.path().join("fuzz");
        if !dir.join("Cargo.toml").exists() {
            continue;
        }
        let list = Command::new("cargo")
            .args(["fuzz", "list"])
            .current_dir(dir.parent().unwrap_or(&dir))
            .env("RUSTC_BOOTSTRAP", "1")
            .output()
            .map_err(|e| e.to_string())?;
        for target in String::from_utf8_lossy(&list.stdout).lines().map(str::trim).filter(|t| !t.is_empty()) {
            let max_time = format!("-max_total_time={seconds}");
            // new inputs go to the (git-ignored) corpus; committed seeds are only read
            let corpus = format!("fuzz/corpus/{target}");
            std::fs::create_dir_all(dir.join("corpus").join(target)).map_err(|e| e.to_string())?;
            let seeds = format!("fuzz/seeds/{target}");
            let mut args = vec!["fuzz", "run", target, corpus.as_str()];
            if dir.join("seeds").join(target).is_dir() {
                args.push(seeds.as_str());
            }
            args.extend(["--", max_time.as_str()]);
            run_in(dir.parent().unwrap_or(&dir), "cargo", &args, &[("RUSTC_BOOTSTRAP", "1")])?;
            ran += 1;
        }
    }
    if ran == 0 {
        return Err("no fuzz targets found".into());
    }
    eprintln!("fuzz: {ran} targets ran for {seconds}s each without a crash");
    Ok(())
}

fn bench(extra: &[String]) -> Result<(), String> {
    let mut args = vec!["bench", "--workspace"];
    args.extend(extra.iter().map(String::as_str));
    run("cargo", &args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ci_refuses_to_skip_the_redis_tests() {
        assert!(redis_tests_required(Some("true"), Some("1")).unwrap_err().contains("unset it"));
        assert!(redis_tests_required(Some("true"), Some("")).is_err());
        assert!(redis_tests_required(Some("true"), None).is_ok());
        assert!(redis_tests_required(None, Some("1")).is_ok());
        assert!(redis_tests_required(Some("false"), Some("1")).is_ok());
    }
}
