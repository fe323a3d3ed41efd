//! `cargo xtask release-check`: the crates can be published, each on its own version.
//!
//! It checks, for every publishable workspace member (`publish` not `false`):
//!
//! 1. **Own version.** `[package] version` is written in the crate's own `Cargo.toml`
//!    (not `version.workspace = true`).
//! 2. **Path dependencies carry a version requirement.** Every dependency with a `path` (normal,
//!    build and dev) also has a `version`, so the published manifest names a registry version.
//! 3. **Changed crates are bumped.** A crate whose code changed since its last release has a
//!    higher version than that release. "Code" is every file under the crate's directory except
//!    `tests/`, `benches/`, `examples/`, `fuzz/` and Markdown files (`*.md`): its sources,
//!    `build.rs`, its `Cargo.toml` and data files the sources include. Changes are taken from the
//!    release commit to the working tree (committed, staged, unstaged and untracked files alike).
//!    A version lower than the last release is an error too. A crate released as `V` has a
//!    `## V` (or `## [V]`) heading in its `CHANGELOG.md`.
//! 4. **Packaging.** `cargo package --workspace` (minus unpublishable members) builds every
//!    crate from the `.crate` file it would upload, with workspace siblings resolved from the
//!    packages just made. It is verified (not `--no-verify`): that build takes about 2.5 CPU
//!    minutes on a cold target directory, cheap next to CI's 90 minutes.
//!
//! **The last release** of crate `NAME` is the highest version among
//! - git tags `NAME-vVERSION` (e.g. `wxkf-crypto-v0.1.0`), at the tagged commit, and
//! - the committed record `xtask/releases.toml`: a table `[NAME]` with `version` and `commit`
//!   (the full commit hash the version was published from), written when the crate is published,
//!   so that a clone without tags still knows.
//!
//! A crate with neither has never been released, and check 3 has nothing to compare it with.
//! The release commit must be in the local history (a shallow clone fails with a message saying
//! to fetch it).

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::process::Command;

use semver::Version;

/// Where the record of released versions lives, relative to the workspace root.
pub(crate) const RECORD: &str = "xtask/releases.toml";

/// A published version of one crate and the commit it was published from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Release {
    pub(crate) version: Version,
    pub(crate) commit: String,
    /// Where we learnt of it: a tag name, or the record file.
    pub(crate) source: String,
}

/// A publishable workspace member, as far as the release check needs it.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub(crate) name: String,
    pub(crate) version: Version,
    /// The crate's directory relative to the workspace root, with `/` separators (`crates/wxkf-bot`).
    pub(crate) dir: String,
}

/// How a crate stands against its last release (when check 3 passes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Standing {
    /// No tag and no record: nothing to compare with.
    NeverReleased,
    /// Same version as the last release and no code changed since.
    Unchanged,
    /// A version above the last release: ready to be released.
    Bumped { from: Version },
}

impl fmt::Display for Standing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Standing::NeverReleased => f.write_str("never released"),
            Standing::Unchanged => f.write_str("unchanged since its release"),
            Standing::Bumped { from } => write!(f, "bumped from released {from}"),
        }
    }
}

/// Parses `xtask/releases.toml`: `[NAME]` tables with `version` and `commit`.
pub(crate) fn parse_record(text: &str) -> Result<BTreeMap<String, Release>, String> {
    let table: toml::Table = text.parse().map_err(|e| format!("{RECORD} is not valid TOML: {e}"))?;
    let mut out = BTreeMap::new();
    for (name, entry) in table {
        let entry = entry
            .as_table()
            .ok_or_else(|| format!("{RECORD}: `{name}` must be a table with `version` and `commit`"))?;
        let version = entry
            .get("version")
            .and_then(toml::Value::as_str)
            .ok_or_else(|| format!("{RECORD}: [{name}] needs `version = \"X.Y.Z\"`"))?;
        let version = Version::parse(version)
            .map_err(|e| format!("{RECORD}: [{name}] version {version:?} is not semver: {e}"))?;
        let commit = entry
            .get("commit")
            .and_then(toml::Value::as_str)
            .ok_or_else(|| format!("{RECORD}: [{name}] needs `commit = \"<full hash>\"`"))?;
        if commit.len() != 40 || !commit.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("{RECORD}: [{name}] commit {commit:?} must be a full 40-digit hash"));
        }
        if let Some(extra) = entry.keys().find(|k| *k != "version" && *k != "commit") {
            return Err(format!("{RECORD}: [{name}] has an unknown key `{extra}` (only version, commit)"));
        }
        out.insert(name, Release { version, commit: commit.to_owned(), source: RECORD.to_owned() });
    }
    Ok(out)
}

/// The highest version among the tags `NAME-vVERSION`, with the tag's name. Tags whose rest is
/// not a version (and tags of other crates) are ignored.
pub(crate) fn latest_tag<'a>(
    name: &str,
    tags: impl IntoIterator<Item = &'a str>,
) -> Option<(Version, &'a str)> {
    let prefix = format!("{name}-v");
    tags.into_iter()
        .filter_map(|tag| Some((Version::parse(tag.strip_prefix(&prefix)?).ok()?, tag)))
        .max_by(|a, b| a.0.cmp(&b.0))
}

/// The later of the two: the newest tag and the record's entry.
pub(crate) fn last_release(tagged: Option<Release>, recorded: Option<Release>) -> Option<Release> {
    match (tagged, recorded) {
        (Some(t), Some(r)) => Some(if r.version > t.version { r } else { t }),
        (t, r) => t.or(r),
    }
}

/// Whether a changed file (relative to the crate's directory) is part of the crate's code, see
/// the module docs.
pub(crate) fn is_code(path: &str) -> bool {
    let skipped_dir = ["tests/", "benches/", "examples/", "fuzz/"].iter().any(|d| path.starts_with(d));
    !skipped_dir && !path.ends_with(".md")
}

/// Check 3 for one crate: `changed` are the files (relative to the crate's directory) that differ
/// from the last release's commit.
pub(crate) fn standing(
    member: &Member,
    last: Option<&Release>,
    changed: &[String],
) -> Result<Standing, String> {
    let Some(last) = last else { return Ok(Standing::NeverReleased) };
    let name = &member.name;
    let code: Vec<&str> = changed.iter().map(String::as_str).filter(|p| is_code(p)).collect();
    match member.version.cmp(&last.version) {
        Ordering::Less => Err(format!(
            "{name} is at {}, below its release {} ({}): set a version above {} in {}/Cargo.toml",
            member.version, last.version, last.source, last.version, member.dir
        )),
        Ordering::Greater => Ok(Standing::Bumped { from: last.version.clone() }),
        Ordering::Equal if code.is_empty() => Ok(Standing::Unchanged),
        Ordering::Equal => {
            let mut shown = code.iter().take(5).map(|p| format!("{}/{p}", member.dir)).collect::<Vec<_>>();
            if code.len() > 5 {
                shown.push(format!("and {} more", code.len() - 5));
            }
            Err(format!(
                "{name}'s code changed since its release {} ({}, commit {}) but its version is still {}: \
                 bump `version` in {}/Cargo.toml (semver: a breaking change bumps the minor version while \
                 below 1.0) and put the CHANGELOG entries under it. Changed: {}",
                last.version,
                last.source,
                short(&last.commit),
                member.version,
                member.dir,
                shown.join(", ")
            ))
        }
    }
}

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

/// A released version has its own heading in the crate's CHANGELOG: `## V` or `## [V]`,
/// optionally followed by a date, and not marked "unreleased".
pub(crate) fn changelog_has_release(text: &str, version: &Version) -> bool {
    let wanted = version.to_string();
    text.lines().any(|line| {
        let Some(title) = line.strip_prefix("## ") else { return false };
        let title = title.trim();
        let named = title
            .strip_prefix('[')
            .and_then(|t| t.strip_prefix(wanted.as_str()))
            .map(|rest| rest.strip_prefix(']'))
            .unwrap_or_else(|| title.strip_prefix(wanted.as_str()));
        match named {
            // the version must end there (0.1.0 is not 0.1.0-rc.1 nor 0.1.01)
            Some(rest) => {
                (rest.is_empty() || rest.starts_with([' ', '\t']))
                    && !rest.to_ascii_lowercase().contains("unreleased")
            }
            None => false,
        }
    })
}

/// Check 1: the `[package] version` of a manifest is its own string, not inherited.
pub(crate) fn own_version_problem(name: &str, manifest: &str) -> Option<String> {
    let table: toml::Table = match manifest.parse() {
        Ok(t) => t,
        Err(e) => return Some(format!("{name}: Cargo.toml is not valid TOML: {e}")),
    };
    match table.get("package").and_then(|p| p.get("version")) {
        Some(toml::Value::String(_)) => None,
        Some(_) => Some(format!(
            "{name} inherits its version (`version.workspace = true`): write its own `version = \"X.Y.Z\"` \
             in its Cargo.toml, so it is released on its own"
        )),
        None => Some(format!("{name} has no `version` in its Cargo.toml: add `version = \"X.Y.Z\"`")),
    }
}

/// Check 2 on `cargo metadata --no-deps` output: every path dependency of a publishable member
/// has a version requirement (cargo reports a path dependency without one as `req = "*"`).
pub(crate) fn unversioned_path_deps(metadata: &serde_json::Value) -> Vec<String> {
    let mut problems = Vec::new();
    for package in publishable(metadata) {
        let name = package["name"].as_str().unwrap_or("?");
        for dep in package["dependencies"].as_array().into_iter().flatten() {
            if dep["path"].is_null() {
                continue;
            }
            let req = dep["req"].as_str().unwrap_or("*");
            if req.trim() == "*" {
                let kind = dep["kind"].as_str().unwrap_or("normal");
                problems.push(format!(
                    "{name}: the {kind} path dependency `{}` has no version requirement: add \
                     `version = \"X.Y.Z\"` beside its `path` (in [workspace.dependencies] when inherited)",
                    dep["name"].as_str().unwrap_or("?")
                ));
            }
        }
    }
    problems
}

/// The workspace members `cargo publish` would accept: `publish` absent (null) or a non-empty
/// list of registries. `publish = false` shows as an empty list.
pub(crate) fn publishable(metadata: &serde_json::Value) -> impl Iterator<Item = &serde_json::Value> {
    let members: Vec<&str> =
        metadata["workspace_members"].as_array().into_iter().flatten().filter_map(|m| m.as_str()).collect();
    metadata["packages"].as_array().into_iter().flatten().filter(move |p| {
        let member = p["id"].as_str().is_some_and(|id| members.contains(&id));
        let publish = match &p["publish"] {
            serde_json::Value::Array(registries) => !registries.is_empty(),
            _ => true,
        };
        member && publish
    })
}

/// The unpublishable workspace members (to leave out of `cargo package`).
pub(crate) fn unpublishable_names(metadata: &serde_json::Value) -> Vec<String> {
    let publish: Vec<&str> = publishable(metadata).filter_map(|p| p["name"].as_str()).collect();
    let members: Vec<&str> =
        metadata["workspace_members"].as_array().into_iter().flatten().filter_map(|m| m.as_str()).collect();
    metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["id"].as_str().is_some_and(|id| members.contains(&id)))
        .filter_map(|p| p["name"].as_str())
        .filter(|n| !publish.contains(n))
        .map(str::to_owned)
        .collect()
}

/// The publishable members with their versions and directories.
pub(crate) fn members(metadata: &serde_json::Value, root: &Path) -> Result<Vec<Member>, String> {
    publishable(metadata)
        .map(|p| {
            let name = p["name"].as_str().ok_or("cargo metadata: a package without a name")?.to_owned();
            let version = p["version"].as_str().unwrap_or("");
            let version = Version::parse(version).map_err(|e| format!("{name}: version {version:?}: {e}"))?;
            let manifest = Path::new(p["manifest_path"].as_str().unwrap_or(""));
            let dir = manifest.parent().and_then(|d| d.strip_prefix(root).ok()).ok_or_else(|| {
                format!("{name}: its manifest {} is outside the workspace", manifest.display())
            })?;
            let dir = dir.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
            Ok(Member { name, version, dir })
        })
        .collect()
}

// ---- git -----------------------------------------------------------------------------------

fn git(root: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(root)
        .output()
        .map_err(|e| format!("could not run git: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!("`git {}` failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// The last release of `name` from the tags and the record.
pub(crate) fn find_last_release(
    root: &Path,
    name: &str,
    record: &BTreeMap<String, Release>,
) -> Result<Option<Release>, String> {
    let prefix = format!("{name}-v*");
    let tags = git(root, &["tag", "--list", &prefix])?;
    let tagged = match latest_tag(name, tags.lines().map(str::trim)) {
        Some((version, tag)) => {
            let commit = git(root, &["rev-list", "-n", "1", tag])?.trim().to_owned();
            Some(Release { version, commit, source: format!("tag {tag}") })
        }
        None => None,
    };
    Ok(last_release(tagged, record.get(name).cloned()))
}

/// Files under `dir` (relative to it) that differ between `commit` and the working tree,
/// untracked files included.
pub(crate) fn changed_since(root: &Path, commit: &str, dir: &str) -> Result<Vec<String>, String> {
    let known = format!("{commit}^{{commit}}");
    git(root, &["rev-parse", "--verify", "--quiet", &known]).map_err(|_| {
        format!(
            "the release commit {commit} is not in this clone's history: fetch it (`git fetch --unshallow` \
             or `git fetch --tags`) so changes since the release can be checked"
        )
    })?;
    let spec = format!("{dir}/");
    let mut files = git(root, &["diff", "--name-only", "--no-renames", commit, "--", &spec])?;
    files.push_str(&git(root, &["ls-files", "--others", "--exclude-standard", "--", &spec])?);
    let mut out: Vec<String> =
        files.lines().filter_map(|l| l.trim().strip_prefix(spec.as_str())).map(str::to_owned).collect();
    out.sort();
    out.dedup();
    Ok(out)
}

/// Checks 1 to 3 (everything but packaging) for the workspace at `root`, given `cargo metadata
/// --no-deps` output. Returns a line per crate on success, or every problem found.
pub(crate) fn check_versions(root: &Path, metadata: &serde_json::Value) -> Result<Vec<String>, Vec<String>> {
    let mut problems = unversioned_path_deps(metadata);
    let record = match std::fs::read_to_string(root.join(RECORD)) {
        Ok(text) => parse_record(&text).map_err(|e| vec![e])?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
        Err(e) => return Err(vec![format!("could not read {RECORD}: {e}")]),
    };
    let members = members(metadata, root).map_err(|e| vec![e])?;
    if let Some(unknown) = record.keys().find(|k| !members.iter().any(|m| &m.name == *k)) {
        problems.push(format!("{RECORD} names `{unknown}`, which is not a publishable workspace member"));
    }
    let mut report = Vec::new();
    for member in &members {
        let dir = root.join(&member.dir);
        match std::fs::read_to_string(dir.join("Cargo.toml")) {
            Ok(manifest) => problems.extend(own_version_problem(&member.name, &manifest)),
            Err(e) => problems.push(format!("{}: could not read Cargo.toml: {e}", member.name)),
        }
        let last = match find_last_release(root, &member.name, &record) {
            Ok(last) => last,
            Err(e) => {
                problems.push(e);
                continue;
            }
        };
        if let Some(last) = &last {
            let changelog = std::fs::read_to_string(dir.join("CHANGELOG.md")).unwrap_or_default();
            if !changelog_has_release(&changelog, &last.version) {
                problems.push(format!(
                    "{}: released {} ({}) but {}/CHANGELOG.md has no `## {}` heading: add one below \
                     `## Unreleased` listing what that release holds",
                    member.name, last.version, last.source, member.dir, last.version
                ));
            }
        }
        let changed = match &last {
            Some(last) => match changed_since(root, &last.commit, &member.dir) {
                Ok(changed) => changed,
                Err(e) => {
                    problems.push(format!("{}: {e}", member.name));
                    continue;
                }
            },
            None => Vec::new(),
        };
        match standing(member, last.as_ref(), &changed) {
            Ok(s) => report.push(format!("{} {}: {s}", member.name, member.version)),
            Err(e) => problems.push(e),
        }
    }
    if problems.is_empty() { Ok(report) } else { Err(problems) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    fn member(version: &str) -> Member {
        Member { name: "wxkf-demo".into(), version: v(version), dir: "crates/wxkf-demo".into() }
    }

    fn release(version: &str) -> Release {
        Release { version: v(version), commit: "a".repeat(40), source: "tag wxkf-demo-v0".into() }
    }

    fn files(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_crate_never_released_passes_whatever_changed() {
        assert_eq!(standing(&member("0.1.0"), None, &files(&["src/lib.rs"])), Ok(Standing::NeverReleased));
    }

    #[test]
    fn changed_code_at_the_released_version_fails_and_names_the_file() {
        let err = standing(&member("0.1.0"), Some(&release("0.1.0")), &files(&["src/lib.rs"])).unwrap_err();
        assert!(err.contains("wxkf-demo's code changed since its release 0.1.0"), "{err}");
        assert!(err.contains("crates/wxkf-demo/src/lib.rs"), "{err}");
        assert!(err.contains("bump `version` in crates/wxkf-demo/Cargo.toml"), "{err}");
    }

    #[test]
    fn manifest_build_script_and_data_files_count_as_code() {
        for path in ["Cargo.toml", "build.rs", "data/vectors.json", "src/a/b.rs"] {
            assert!(is_code(path), "{path}");
            assert!(standing(&member("0.1.0"), Some(&release("0.1.0")), &files(&[path])).is_err(), "{path}");
        }
    }

    #[test]
    fn tests_benches_examples_fuzz_and_docs_do_not_need_a_bump() {
        let changed = files(&[
            "tests/api.rs",
            "benches/b.rs",
            "examples/e.rs",
            "fuzz/fuzz_targets/f.rs",
            "README.md",
            "CHANGELOG.md",
        ]);
        assert_eq!(standing(&member("0.1.0"), Some(&release("0.1.0")), &changed), Ok(Standing::Unchanged));
        // but a source file among them still does
        let mut with_src = changed.clone();
        with_src.push("src/lib.rs".into());
        assert!(standing(&member("0.1.0"), Some(&release("0.1.0")), &with_src).is_err());
    }

    #[test]
    fn a_bumped_version_passes_and_a_lower_one_fails() {
        let changed = files(&["src/lib.rs"]);
        assert_eq!(
            standing(&member("0.2.0"), Some(&release("0.1.0")), &changed),
            Ok(Standing::Bumped { from: v("0.1.0") })
        );
        assert_eq!(
            standing(&member("0.1.1-rc.1"), Some(&release("0.1.0")), &changed),
            Ok(Standing::Bumped { from: v("0.1.0") })
        );
        let err = standing(&member("0.1.0"), Some(&release("0.2.0")), &[]).unwrap_err();
        assert!(err.contains("below its release 0.2.0"), "{err}");
        // a pre-release of the released version is below it in semver
        assert!(standing(&member("0.2.0-rc.1"), Some(&release("0.2.0")), &[]).is_err());
    }

    #[test]
    fn unchanged_at_the_released_version_passes() {
        assert_eq!(standing(&member("0.1.0"), Some(&release("0.1.0")), &[]), Ok(Standing::Unchanged));
    }

    #[test]
    fn the_newest_tag_of_the_crate_wins_and_other_crates_tags_are_ignored() {
        let tags = [
            "wxkf-demo-v0.1.0",
            "wxkf-demo-v0.10.0",
            "wxkf-demo-v0.9.3",
            "wxkf-demo-extra-v9.0.0",
            "wxkf-demo-vnext",
            "v1.0.0",
        ];
        assert_eq!(latest_tag("wxkf-demo", tags), Some((v("0.10.0"), "wxkf-demo-v0.10.0")));
        assert_eq!(latest_tag("wxkf-demo-extra", tags), Some((v("9.0.0"), "wxkf-demo-extra-v9.0.0")));
        assert_eq!(latest_tag("wxkf-other", tags), None);
    }

    #[test]
    fn the_later_of_tag_and_record_is_the_last_release() {
        let tag = release("0.2.0");
        let rec = Release { source: RECORD.into(), ..release("0.3.0") };
        assert_eq!(last_release(Some(tag.clone()), Some(rec.clone())), Some(rec.clone()));
        assert_eq!(last_release(Some(release("0.4.0")), Some(rec.clone())).unwrap().version, v("0.4.0"));
        assert_eq!(last_release(None, Some(rec.clone())), Some(rec));
        assert_eq!(last_release(Some(tag.clone()), None), Some(tag));
        assert_eq!(last_release(None, None), None);
    }

    #[test]
    fn the_record_parses_and_rejects_what_it_cannot_use() {
        let hash = "0123456789abcdef0123456789abcdef01234567";
        let ok = parse_record(&format!("# comment\n[wxkf-demo]\nversion = \"0.1.0\"\ncommit = \"{hash}\"\n"))
            .unwrap();
        assert_eq!(ok["wxkf-demo"].version, v("0.1.0"));
        assert_eq!(ok["wxkf-demo"].commit, hash);
        assert!(parse_record("").unwrap().is_empty());
        for (bad, says) in [
            (format!("[a]\nversion = \"1\"\ncommit = \"{hash}\""), "not semver"),
            ("[a]\nversion = \"0.1.0\"\ncommit = \"abc\"".to_owned(), "full 40-digit hash"),
            (format!("[a]\ncommit = \"{hash}\""), "needs `version"),
            ("[a]\nversion = \"0.1.0\"".to_owned(), "needs `commit"),
            (format!("[a]\nversion = \"0.1.0\"\ncommit = \"{hash}\"\ndate = \"x\""), "unknown key `date`"),
            ("a = 1".to_owned(), "must be a table"),
            ("[a".to_owned(), "not valid TOML"),
        ] {
            let err = parse_record(&bad).unwrap_err();
            assert!(err.contains(says), "{bad:?}: {err}");
        }
    }

    #[test]
    fn a_release_needs_its_own_changelog_heading() {
        let text = "# Changelog\n\n## Unreleased\n- x\n\n## [0.2.0] - 2026-01-01\n- y\n\n## 0.1.0 (unreleased)\n- z\n";
        assert!(changelog_has_release(text, &v("0.2.0")));
        assert!(!changelog_has_release(text, &v("0.1.0")), "a heading marked unreleased is no release");
        assert!(!changelog_has_release(text, &v("0.2.1")));
        assert!(changelog_has_release("## 0.1.0 — 2026-12-01\n", &v("0.1.0")));
        assert!(!changelog_has_release("## 0.1.01\n", &v("0.1.0")));
        assert!(!changelog_has_release("## 0.1.0-rc.1\n", &v("0.1.0")));
        assert!(!changelog_has_release("### 0.1.0\n", &v("0.1.0")));
    }

    #[test]
    fn an_inherited_or_missing_version_is_reported() {
        assert_eq!(own_version_problem("a", "[package]\nname = \"a\"\nversion = \"0.1.0\"\n"), None);
        let inherited =
            own_version_problem("a", "[package]\nname = \"a\"\nversion.workspace = true\n").unwrap();
        assert!(inherited.contains("inherits its version"), "{inherited}");
        let missing = own_version_problem("a", "[package]\nname = \"a\"\n").unwrap();
        assert!(missing.contains("no `version`"), "{missing}");
    }

    fn metadata() -> serde_json::Value {
        serde_json::json!({
            "workspace_members": ["id-lib", "id-tool", "id-bin"],
            "packages": [
                {"id": "id-lib", "name": "lib", "version": "0.1.0", "publish": null,
                 "manifest_path": "/ws/crates/lib/Cargo.toml",
                 "dependencies": [
                    {"name": "serde", "req": "^1", "kind": null, "path": null},
                    {"name": "base", "req": "^0.1.0", "kind": null, "path": "/ws/crates/base"},
                    {"name": "helper", "req": "*", "kind": "dev", "path": "/ws/crates/helper"}
                 ]},
                {"id": "id-tool", "name": "tool", "version": "0.0.0", "publish": [],
                 "manifest_path": "/ws/tool/Cargo.toml",
                 "dependencies": [{"name": "lib", "req": "*", "kind": null, "path": "/ws/crates/lib"}]},
                {"id": "id-bin", "name": "bin", "version": "0.3.0", "publish": ["crates-io"],
                 "manifest_path": "/ws/crates/bin/Cargo.toml",
                 "dependencies": [{"name": "lib", "req": "*", "kind": "build", "path": "/ws/crates/lib"}]},
                {"id": "id-dep", "name": "dep", "version": "1.0.0", "publish": null,
                 "manifest_path": "/registry/dep/Cargo.toml",
                 "dependencies": [{"name": "x", "req": "*", "kind": null, "path": "/x"}]}
            ]
        })
    }

    #[test]
    fn path_dependencies_without_a_version_are_found_in_publishable_members_only() {
        let problems = unversioned_path_deps(&metadata());
        assert_eq!(problems.len(), 2, "{problems:#?}");
        assert!(problems[0].starts_with("lib: the dev path dependency `helper`"), "{}", problems[0]);
        assert!(problems[1].starts_with("bin: the build path dependency `lib`"), "{}", problems[1]);
    }

    #[test]
    fn members_are_the_publishable_workspace_packages() {
        let meta = metadata();
        let found = members(&meta, Path::new("/ws")).unwrap();
        let names: Vec<(&str, String, &str)> =
            found.iter().map(|m| (m.name.as_str(), m.version.to_string(), m.dir.as_str())).collect();
        assert_eq!(names, [("lib", "0.1.0".into(), "crates/lib"), ("bin", "0.3.0".into(), "crates/bin")]);
        assert_eq!(unpublishable_names(&meta), ["tool"]);
    }

    // ---- against a real git repository ----

    struct Repo(PathBuf);

    impl Drop for Repo {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    impl Repo {
        fn new(test: &str) -> Repo {
            let dir = std::env::temp_dir().join(format!("xtask-release-{test}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(dir.join("crates/wxkf-demo/src")).unwrap();
            let repo = Repo(dir);
            repo.git(&["init", "-q"]);
            repo.write(
                "crates/wxkf-demo/Cargo.toml",
                "[package]\nname = \"wxkf-demo\"\nversion = \"0.1.0\"\n",
            );
            repo.write("crates/wxkf-demo/src/lib.rs", "//! demo\n");
            repo.write(
                "crates/wxkf-demo/CHANGELOG.md",
                "# Changelog\n\n## Unreleased\n\n## 0.1.0\n- first\n",
            );
            repo.commit("first");
            repo
        }

        fn git(&self, args: &[&str]) -> String {
            let mut all =
                vec!["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "tag.gpgSign=false"];
            all.extend_from_slice(&["-c", "commit.gpgSign=false"]);
            all.extend_from_slice(args);
            git(&self.0, &all).unwrap()
        }

        fn write(&self, path: &str, text: &str) {
            let path = self.0.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }

        fn commit(&self, msg: &str) -> String {
            self.git(&["add", "-A"]);
            self.git(&["commit", "-q", "-m", msg]);
            self.git(&["rev-parse", "HEAD"]).trim().to_owned()
        }

        fn metadata(&self, version: &str) -> serde_json::Value {
            let root = self.0.to_string_lossy();
            serde_json::json!({
                "workspace_members": ["demo"],
                "packages": [{"id": "demo", "name": "wxkf-demo", "version": version, "publish": null,
                    "manifest_path": format!("{root}/crates/wxkf-demo/Cargo.toml"), "dependencies": []}]
            })
        }

        fn set_version(&self, version: &str) {
            let manifest = format!("[package]\nname = \"wxkf-demo\"\nversion = \"{version}\"\n");
            self.write("crates/wxkf-demo/Cargo.toml", &manifest);
        }
    }

    #[test]
    fn with_a_tag_a_source_change_needs_a_bump_and_a_test_change_does_not() {
        let repo = Repo::new("tag");
        assert_eq!(
            check_versions(&repo.0, &repo.metadata("0.1.0")).unwrap(),
            ["wxkf-demo 0.1.0: never released"]
        );
        repo.git(&["tag", "wxkf-demo-v0.1.0"]);
        assert_eq!(
            check_versions(&repo.0, &repo.metadata("0.1.0")).unwrap(),
            ["wxkf-demo 0.1.0: unchanged since its release"]
        );
        // a test file, committed: no bump needed
        repo.write("crates/wxkf-demo/tests/t.rs", "#[test] fn t() {}\n");
        repo.commit("a test");
        assert!(check_versions(&repo.0, &repo.metadata("0.1.0")).is_ok());
        // a source change, not even committed yet (untracked file): a bump is needed
        repo.write("crates/wxkf-demo/src/new.rs", "//! new\n");
        let problems = check_versions(&repo.0, &repo.metadata("0.1.0")).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:#?}");
        assert!(problems[0].contains("tag wxkf-demo-v0.1.0"), "{}", problems[0]);
        assert!(problems[0].contains("crates/wxkf-demo/src/new.rs"), "{}", problems[0]);
        // committed, still needed; bumped, it passes
        repo.commit("new module");
        assert!(check_versions(&repo.0, &repo.metadata("0.1.0")).is_err());
        repo.set_version("0.2.0");
        assert_eq!(
            check_versions(&repo.0, &repo.metadata("0.2.0")).unwrap(),
            ["wxkf-demo 0.2.0: bumped from released 0.1.0"]
        );
        // an inherited version is reported even when everything else is fine
        repo.write(
            "crates/wxkf-demo/Cargo.toml",
            "[package]\nname = \"wxkf-demo\"\nversion.workspace = true\n",
        );
        let problems = check_versions(&repo.0, &repo.metadata("0.2.0")).unwrap_err();
        assert!(problems.iter().any(|p| p.contains("inherits its version")), "{problems:#?}");
    }

    #[test]
    fn without_tags_the_committed_record_says_what_was_released() {
        let repo = Repo::new("record");
        let released = repo.git(&["rev-parse", "HEAD"]).trim().to_owned();
        repo.write(RECORD, &format!("[wxkf-demo]\nversion = \"0.1.0\"\ncommit = \"{released}\"\n"));
        repo.commit("record the release");
        assert_eq!(
            check_versions(&repo.0, &repo.metadata("0.1.0")).unwrap(),
            ["wxkf-demo 0.1.0: unchanged since its release"]
        );
        repo.write("crates/wxkf-demo/src/lib.rs", "//! demo, changed\n");
        let problems = check_versions(&repo.0, &repo.metadata("0.1.0")).unwrap_err();
        assert!(problems[0].contains(RECORD), "{}", problems[0]);
        // a later tag overrides the record
        repo.commit("change");
        repo.set_version("0.1.1");
        repo.write("crates/wxkf-demo/CHANGELOG.md", "# Changelog\n\n## Unreleased\n\n## 0.1.1\n\n## 0.1.0\n");
        repo.commit("release 0.1.1");
        repo.git(&["tag", "wxkf-demo-v0.1.1"]);
        assert_eq!(
            check_versions(&repo.0, &repo.metadata("0.1.1")).unwrap(),
            ["wxkf-demo 0.1.1: unchanged since its release"]
        );
    }

    #[test]
    fn a_release_commit_missing_from_history_or_changelog_is_reported() {
        let repo = Repo::new("missing");
        repo.write(RECORD, &format!("[wxkf-demo]\nversion = \"0.1.0\"\ncommit = \"{}\"\n", "f".repeat(40)));
        let problems = check_versions(&repo.0, &repo.metadata("0.1.0")).unwrap_err();
        assert!(problems.iter().any(|p| p.contains("not in this clone's history")), "{problems:#?}");
        // a release without its CHANGELOG heading
        repo.write("crates/wxkf-demo/CHANGELOG.md", "# Changelog\n\n## Unreleased\n");
        repo.git(&["tag", "wxkf-demo-v0.1.0"]);
        let problems = check_versions(&repo.0, &repo.metadata("0.1.0")).unwrap_err();
        assert!(problems.iter().any(|p| p.contains("has no `## 0.1.0` heading")), "{problems:#?}");
        // the record naming a crate that is not in the workspace
        let head = repo.git(&["rev-parse", "HEAD"]).trim().to_owned();
        repo.write(RECORD, &format!("[wxkf-gone]\nversion = \"0.1.0\"\ncommit = \"{head}\"\n"));
        let problems = check_versions(&repo.0, &repo.metadata("0.1.0")).unwrap_err();
        assert!(problems.iter().any(|p| p.contains("names `wxkf-gone`")), "{problems:#?}");
    }
}
