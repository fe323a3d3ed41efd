//! `cargo xtask modules`: no import circles between the files of any crate.
//!
//! Each `.rs` file under a crate's `src/` is one module (`lib.rs`/`main.rs` the crate root,
//! `a.rs` or `a/mod.rs` module `a`, `a/b.rs` module `a::b`; `src/bin/` is skipped, those are
//! crates of their own). A file has an edge to another module of its crate when it names it:
//! `use crate::…` (grouped `use crate::{a, b::c}` forms too), `use super::…`, `use self::…` or
//! `use child::…` in a `use`, and `crate::…`, `super::…` or `self::…` paths in code. An edge goes
//! to the longest module path that exists (`crate::a::b::Item` is module `a::b` if that file
//! exists, else `a`). Comments, string and char literals and `#[cfg(test)] mod NAME { … }`
//! blocks (other attributes may stand between) are ignored; a `mod child;` declaration is not an
//! edge, a `pub use child::X` is. A name a module imports from another crate
//! (`pub use wxkf_types as types;`, `pub use serde;`) is no module of this crate:
//! `crate::types::X` is no edge.
//!
//! `super::` inside an inline `mod name { … }` first climbs out of the inline modules (staying
//! in the file); `#[macro_export]` macros named `crate::m` are the defining file's; a
//! `crate::$var::…` path in a macro names no known module (no edge).
//!
//! Not seen: relative paths in code (`child::f()` without `use`) and `#[path]` attributes.
//! A `use Enum::Variant` of an item in the same file counts as an import from another crate.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One import circle: the modules in order (the first is repeated at the end when printed) and
/// their files relative to the crate directory.
#[derive(Debug)]
pub(crate) struct Cycle {
    modules: Vec<String>,
    files: Vec<String>,
}

impl Cycle {
    fn describe(&self, krate: &str) -> String {
        let mut chain = self.modules.clone();
        chain.push(self.modules[0].clone());
        format!("{krate}: {} ({})", chain.join(" -> "), self.files.join(", "))
    }
}

/// Every workspace directory with a `src/` to check: `crates/*` and top-level members.
fn crate_dirs(root: &Path) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for parent in [root.join("crates"), root.to_path_buf()] {
        let Ok(entries) = std::fs::read_dir(&parent) else { continue };
        for entry in entries.flatten() {
            let dir = entry.path();
            if dir.join("Cargo.toml").is_file() && dir.join("src").is_dir() {
                dirs.push(dir);
            }
        }
    }
    dirs.sort();
    dirs
}

/// `cargo xtask modules`: fails listing every circle of every crate.
pub(crate) fn check(root: &Path) -> Result<(), String> {
    let mut problems = Vec::new();
    let mut checked = 0;
    for dir in crate_dirs(root) {
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        checked += 1;
        for cycle in crate_cycles(&dir)? {
            problems.push(cycle.describe(&name));
        }
    }
    if problems.is_empty() {
        eprintln!("modules: ok, no import circles between files ({checked} crates)");
        Ok(())
    } else {
        Err(format!(
            "modules: {} import circle(s) between files; cut each with a module both sides can use:\n- {}",
            problems.len(),
            problems.join("\n- ")
        ))
    }
}

/// The circles between files of the crate at `dir` (a directory with a `src/`).
pub(crate) fn crate_cycles(dir: &Path) -> Result<Vec<Cycle>, String> {
    let src = dir.join("src");
    let mut files = Vec::new();
    collect_rs(&src, &src, &mut files)?;
    // module path -> file (relative to the crate dir)
    let mut modules: BTreeMap<String, String> = BTreeMap::new();
    let mut texts = Vec::new();
    for path in &files {
        let rel = path.strip_prefix(&src).unwrap_or(path);
        let module = module_path(rel);
        let shown = Path::new("src").join(rel).to_string_lossy().replace('\\', "/");
        let text = std::fs::read_to_string(path).map_err(|e| format!("could not read {shown}: {e}"))?;
        // lib.rs and main.rs side by side are both the root; keep the first for naming
        modules.entry(module.clone()).or_insert(shown);
        texts.push((module, text));
    }
    // what each module's `use` items bring in by name: `crate::Error` re-exported by the root
    // from `error.rs` is an edge to `error`, not to the root; `crate::types::X` after the root's
    // `pub use wxkf_types as types;` is no edge at all (an outside crate)
    let no_reexports = BTreeMap::new();
    let mut reexports: BTreeMap<String, BTreeMap<String, Imported>> = BTreeMap::new();
    for (module, text) in &texts {
        for (path, bound) in referenced_paths(text) {
            let Some(name) = bound else { continue };
            let imported = match resolve(module, &path, &modules, &no_reexports) {
                Some(target) => Imported::Module(target),
                None if is_outside(&path) => Imported::Outside,
                None => continue,
            };
            reexports.entry(module.clone()).or_default().insert(name, imported);
        }
        // `#[macro_export] macro_rules! m` lives at `crate::m` but is the file's own
        for name in exported_macros(text) {
            reexports.entry(String::new()).or_default().insert(name, Imported::Module(module.clone()));
        }
    }
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, text) in &texts {
        let targets = edges.entry(module.clone()).or_default();
        for (path, _) in referenced_paths(text) {
            if let Some(target) = resolve(module, &path, &modules, &reexports)
                && &target != module
            {
                targets.insert(target);
            }
        }
    }
    Ok(find_cycles(&edges)
        .into_iter()
        .map(|cycle| Cycle {
            files: cycle.iter().map(|m| modules[m].clone()).collect(),
            modules: cycle.iter().map(|m| display(m)).collect(),
        })
        .collect())
}

fn display(module: &str) -> String {
    if module.is_empty() { "crate".to_owned() } else { module.to_owned() }
}

fn collect_rs(src: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("could not read {}: {e}", dir.display()))?;
    let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            if dir == src && path.file_name().is_some_and(|n| n == "bin") {
                continue;
            }
            collect_rs(src, &path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

/// `lib.rs`/`main.rs` -> "", `a.rs`/`a/mod.rs` -> "a", `a/b.rs` -> "a::b".
fn module_path(rel: &Path) -> String {
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if let Some(last) = parts.pop() {
        let stem = last.strip_suffix(".rs").unwrap_or(&last).to_owned();
        let is_root = parts.is_empty() && (stem == "lib" || stem == "main");
        if stem != "mod" && !is_root {
            parts.push(stem);
        }
    }
    parts.join("::")
}

/// Where a name a `use` item binds comes from.
#[derive(Debug, Clone)]
enum Imported {
    /// A module of this crate (the file the item is defined or re-exported in).
    Module(String),
    /// Another crate: `use wxkf_types as types;`, `pub use wxkf_client;`, `use serde::Serialize`.
    Outside,
}

/// A `use` path that names no module of this crate: it starts with neither `crate`, `self`
/// nor `super` (and `resolve` found no child module of that name).
fn is_outside(path: &[String]) -> bool {
    path.first().is_some_and(|first| !matches!(first.as_str(), "crate" | "$crate" | "self" | "super"))
}

/// The module an absolute-or-relative `path` (as written) names from `module`, if any.
fn resolve(
    module: &str,
    path: &[String],
    modules: &BTreeMap<String, String>,
    reexports: &BTreeMap<String, BTreeMap<String, Imported>>,
) -> Option<String> {
    let mut base: Vec<String> =
        if module.is_empty() { Vec::new() } else { module.split("::").map(str::to_owned).collect() };
    let mut rest = path;
    match rest.first().map(String::as_str) {
        Some("crate") | Some("$crate") => {
            base.clear();
            rest = &rest[1..];
        }
        Some("self") => rest = &rest[1..],
        Some("super") => {
            while rest.first().is_some_and(|s| s == "super") {
                base.pop()?;
                rest = &rest[1..];
            }
        }
        // `use child::X`: a child module of this one, else an outside crate (no edge)
        Some(first) => {
            let mut child = base.clone();
            child.push(first.to_owned());
            if !modules.contains_key(&child.join("::")) {
                return None;
            }
        }
        None => return None,
    }
    let mut full = base;
    full.extend(rest.iter().filter(|s| *s != "self").cloned());
    // the longest prefix that is a module; the root always is
    for len in (0..=full.len()).rev() {
        let candidate = full[..len].join("::");
        if modules.contains_key(&candidate) {
            // an item the module only re-exports: the edge goes where it comes from, and
            // nowhere when that is another crate
            return match full.get(len).and_then(|name| reexports.get(&candidate)?.get(name)) {
                Some(Imported::Module(target)) => Some(target.clone()),
                Some(Imported::Outside) => None,
                None => Some(candidate),
            };
        }
    }
    None
}

#[derive(Debug, PartialEq)]
enum Tok {
    Ident(String),
    Colons,
    Open,
    Close,
    Comma,
    Semi,
    Star,
    Other(char),
}

/// Every path the text names: each leaf of each `use` tree with the name it binds (the alias
/// after `as`, else the last segment; `None` for a glob), and `crate::`/`super::`/`self::` paths
/// elsewhere (`None`).
fn referenced_paths(text: &str) -> Vec<(Vec<String>, Option<String>)> {
    let toks = tokens(&strip_test_modules(&strip_comments_and_literals(text)));
    let mut out = Vec::new();
    // brace depth, and the depths at which inline `mod name { … }` blocks opened: the first
    // `super`s inside one stay in this file
    let mut depth = 0usize;
    let mut inline: Vec<usize> = Vec::new();
    let in_file = |mut path: Vec<String>, inline: usize| {
        let supers = path.iter().take_while(|s| *s == "super").count();
        if supers > 0 && inline > 0 {
            if supers <= inline {
                path.drain(..supers);
                path.insert(0, "self".to_owned());
            } else {
                path.drain(..inline);
            }
        }
        path
    };
    let mut i = 0;
    while i < toks.len() {
        match &toks[i] {
            Tok::Open => depth += 1,
            Tok::Close => {
                if inline.last() == Some(&depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
            }
            Tok::Ident(word)
                if word == "mod"
                    && matches!(toks.get(i + 1), Some(Tok::Ident(_)))
                    && toks.get(i + 2) == Some(&Tok::Open) =>
            {
                inline.push(depth + 1);
            }
            Tok::Ident(word) if word == "use" => {
                i += 1;
                if toks.get(i) == Some(&Tok::Colons) {
                    i += 1; // `use ::std::…`: an outside crate
                }
                let mut leaves = Vec::new();
                parse_use_tree(&toks, &mut i, Vec::new(), &mut leaves);
                out.extend(leaves.into_iter().map(|(path, bound)| (in_file(path, inline.len()), bound)));
                while i < toks.len() && toks[i] != Tok::Semi {
                    i += 1;
                }
            }
            Tok::Ident(word)
                if matches!(word.as_str(), "crate" | "super" | "self")
                    && toks.get(i + 1) == Some(&Tok::Colons) =>
            {
                let dollar = i > 0 && toks[i - 1] == Tok::Other('$');
                let mut path = vec![if dollar { "$crate".to_owned() } else { word.clone() }];
                i += 1;
                let mut metavariable = false;
                while toks.get(i) == Some(&Tok::Colons) {
                    match toks.get(i + 1) {
                        Some(Tok::Ident(s)) => {
                            path.push(s.clone());
                            i += 2;
                        }
                        Some(Tok::Other('$')) => {
                            metavariable = true;
                            break;
                        }
                        _ => break,
                    }
                }
                // `crate::$area::Item` in a macro names a module not known here: no edge
                if !(metavariable && path.len() == 1) {
                    out.push((in_file(path, inline.len()), None));
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// The names of the `#[macro_export]` macros the text defines.
fn exported_macros(text: &str) -> Vec<String> {
    let toks = tokens(&strip_test_modules(&strip_comments_and_literals(text)));
    let mut names = Vec::new();
    let mut exported = false;
    for (k, tok) in toks.iter().enumerate() {
        match tok {
            Tok::Ident(word) if word == "macro_export" && k > 0 && toks[k - 1] == Tok::Other('[') => {
                exported = true;
            }
            Tok::Ident(word) if word == "macro_rules" && toks.get(k + 1) == Some(&Tok::Other('!')) => {
                if let (true, Some(Tok::Ident(name))) = (exported, toks.get(k + 2)) {
                    names.push(name.clone());
                }
                exported = false;
            }
            _ => {}
        }
    }
    names
}

/// One `use` tree from `toks[*i]`: each leaf path with the name it binds (see
/// [`referenced_paths`]).
fn parse_use_tree(
    toks: &[Tok],
    i: &mut usize,
    prefix: Vec<String>,
    out: &mut Vec<(Vec<String>, Option<String>)>,
) {
    let mut path = prefix;
    // `self` in `a::{self}` binds `a`
    let last_name = |path: &[String]| path.iter().rev().find(|s| *s != "self").cloned();
    let mut bound = None;
    loop {
        match toks.get(*i) {
            Some(Tok::Ident(s)) if s == "as" => {
                if let Some(Tok::Ident(alias)) = toks.get(*i + 1) {
                    bound = Some(alias.clone());
                }
                *i += 2;
                break;
            }
            Some(Tok::Ident(s)) => {
                path.push(s.clone());
                *i += 1;
                if toks.get(*i) == Some(&Tok::Colons) {
                    *i += 1;
                    continue;
                }
                bound = last_name(&path);
                if toks.get(*i).is_some_and(|t| matches!(t, Tok::Ident(s) if s == "as")) {
                    if let Some(Tok::Ident(alias)) = toks.get(*i + 1) {
                        bound = Some(alias.clone());
                    }
                    *i += 2;
                }
                break;
            }
            Some(Tok::Open) => {
                *i += 1;
                while let Some(tok) = toks.get(*i) {
                    match tok {
                        Tok::Close => {
                            *i += 1;
                            break;
                        }
                        Tok::Comma => *i += 1,
                        Tok::Semi => return,
                        _ => {
                            let before = *i;
                            parse_use_tree(toks, i, path.clone(), out);
                            if *i == before {
                                *i += 1;
                            }
                        }
                    }
                }
                return;
            }
            Some(Tok::Star) => {
                *i += 1;
                break;
            }
            _ => break,
        }
    }
    if !path.is_empty() {
        // `as _` binds nothing
        out.push((path, bound.filter(|name| name != "_")));
    }
}

fn tokens(text: &str) -> Vec<Tok> {
    let chars: Vec<char> = text.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            toks.push(Tok::Ident(chars[start..i].iter().collect()));
            continue;
        }
        match c {
            ':' if chars.get(i + 1) == Some(&':') => {
                toks.push(Tok::Colons);
                i += 1;
            }
            '{' => toks.push(Tok::Open),
            '}' => toks.push(Tok::Close),
            ',' => toks.push(Tok::Comma),
            ';' => toks.push(Tok::Semi),
            '*' => toks.push(Tok::Star),
            c if c.is_whitespace() => {}
            c => toks.push(Tok::Other(c)),
        }
        i += 1;
    }
    toks
}

/// Comments, string literals (raw ones too) and char literals become spaces; newlines stay.
fn strip_comments_and_literals(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |out: &mut String, from: &[char]| {
        for &c in from {
            out.push(if c == '\n' { '\n' } else { ' ' });
        }
    };
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let start = i;
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == 'r'
            && (i == 0 || !ident(chars[i - 1]) || chars[i - 1] == 'b')
            && matches!(next, Some('"' | '#'))
        {
            let mut j = i + 1;
            while chars.get(j) == Some(&'#') {
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            let hashes = j - i - 1;
            j += 1;
            while j < chars.len() {
                if chars[j] == '"' && (1..=hashes).all(|k| chars.get(j + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            i = j;
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i = (i + 1).min(chars.len());
        } else if c == '\'' && next == Some('\\') {
            i += 2;
            while i < chars.len() && chars[i] != '\'' {
                i += 1;
            }
            i = (i + 1).min(chars.len());
        } else if c == '\'' && chars.get(i + 2) == Some(&'\'') {
            i += 3;
        } else {
            out.push(c);
            i += 1;
            continue;
        }
        blank(&mut out, &chars[start..i.min(chars.len())]);
    }
    out
}

/// `#[cfg(test)] mod NAME { … }` blocks become spaces (their `use super::*` is the same file).
fn strip_test_modules(text: &str) -> String {
    let mut out = text.to_owned();
    let mut from = 0;
    while let Some(found) = out[from..].find("#[cfg(test)]") {
        let attr = from + found;
        let after = attr + "#[cfg(test)]".len();
        let rest = &out[after..];
        let mut trimmed = rest.trim_start();
        // more attributes may follow: `#[cfg(test)] #[allow(clippy::unwrap_used)] mod tests { … }`
        while trimmed.starts_with("#[") {
            let mut depth = 0;
            let mut end = trimmed.len();
            for (k, ch) in trimmed.char_indices() {
                match ch {
                    '[' => depth += 1,
                    ']' => {
                        depth -= 1;
                        if depth == 0 {
                            end = k + 1;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            trimmed = trimmed[end..].trim_start();
        }
        let Some(decl) = trimmed.strip_prefix("mod ") else {
            from = after;
            continue;
        };
        let name_len = decl.trim_start().find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(0);
        let after_name = decl.trim_start()[name_len..].trim_start();
        if !after_name.starts_with('{') {
            from = after;
            continue;
        }
        let open = out.len() - after_name.len();
        let mut depth = 0;
        let mut end = out.len();
        for (k, ch) in out[open..].char_indices() {
            match ch {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + k + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        let blanked: String = out[attr..end].chars().map(|c| if c == '\n' { '\n' } else { ' ' }).collect();
        out.replace_range(attr..end, &blanked);
        from = end;
    }
    out
}

/// One cycle per strongly connected component of two or more modules (Tarjan), as a path
/// through the component starting at its first module.
fn find_cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        components: Vec<Vec<&'a str>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.edges.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w);
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                s.components.push(component);
            }
        }
    }
    let mut s = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        components: Vec::new(),
    };
    for v in edges.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    let mut cycles = Vec::new();
    for component in &s.components {
        let members: BTreeSet<&str> = component.iter().copied().collect();
        let Some(&start) = members.iter().next() else { continue };
        // shortest way back to `start` inside the component (breadth first)
        let mut came_from: BTreeMap<&str, &str> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([start]);
        let mut last = None;
        'search: while let Some(v) = queue.pop_front() {
            for w in edges.get(v).into_iter().flatten() {
                let w = w.as_str();
                if !members.contains(w) {
                    continue;
                }
                if w == start {
                    last = Some(v);
                    break 'search;
                }
                if !came_from.contains_key(w) {
                    came_from.insert(w, v);
                    queue.push_back(w);
                }
            }
        }
        let mut path = Vec::new();
        let mut at = last;
        while let Some(v) = at {
            path.push(v.to_owned());
            at = if v == start { None } else { came_from.get(v).copied() };
        }
        path.reverse();
        cycles.push(path);
    }
    cycles
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A crate directory in the temp dir with the given `src/` files.
    fn fixture(files: &[(&str, &str)]) -> PathBuf {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "xtask-modules-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (path, text) in files {
            let path = dir.join("src").join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        std::fs::write(dir.join("Cargo.toml"), "[package]\nname = \"fixture\"\n").unwrap();
        dir
    }

    fn described(files: &[(&str, &str)]) -> Vec<String> {
        let dir = fixture(files);
        let cycles = crate_cycles(&dir).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        cycles.iter().map(|c| c.describe("fixture")).collect()
    }

    #[test]
    fn a_circle_fails_the_check_and_names_both_files() {
        let root = fixture(&[]);
        let krate = root.join("crates").join("demo");
        for (path, text) in [
            ("lib.rs", "mod a;\nmod b;\n"),
            ("a.rs", "use crate::b::Thing;\npub struct Other;\n"),
            ("b.rs", "use crate::a::Other;\npub struct Thing;\n"),
        ] {
            let path = krate.join("src").join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        std::fs::write(krate.join("Cargo.toml"), "[package]\nname = \"demo\"\n").unwrap();
        let err = check(&root).unwrap_err();
        let _ = std::fs::remove_dir_all(&root);
        assert!(err.contains("demo: a -> b -> a"), "{err}");
        assert!(err.contains("src/a.rs") && err.contains("src/b.rs"), "{err}");
    }

    #[test]
    fn an_acyclic_crate_passes() {
        let root = fixture(&[]);
        let krate = root.join("crates").join("demo");
        for (path, text) in [
            ("main.rs", "mod a;\nmod b;\nmod output;\nfn main() { a::run(); }\n"),
            ("a.rs", "use crate::{b::Thing, output::Failure};\npub fn run() {}\n"),
            ("b.rs", "use crate::output::print_line;\npub struct Thing;\n"),
            ("output.rs", "pub struct Failure;\npub fn print_line() {}\n"),
        ] {
            let path = krate.join("src").join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        std::fs::write(krate.join("Cargo.toml"), "[package]\nname = \"demo\"\n").unwrap();
        let result = check(&root);
        let _ = std::fs::remove_dir_all(&root);
        assert_eq!(result, Ok(()));
    }

    #[test]
    fn grouped_imports_over_several_lines_are_edges() {
        let found = described(&[
            ("lib.rs", "mod a;\nmod b;\nmod c;\n"),
            ("a.rs", "use crate::{\n    c::X,\n    b::{\n        inner::Y as Z, self,\n    },\n};\n"),
            ("b.rs", "pub use crate::a::W;\n"),
            ("c.rs", ""),
        ]);
        assert_eq!(found, ["fixture: a -> b -> a (src/a.rs, src/b.rs)"]);
    }

    #[test]
    fn super_paths_resolve_relative_to_the_file() {
        let found = described(&[
            ("lib.rs", "mod net;\n"),
            ("net/mod.rs", "mod x;\nmod y;\n"),
            ("net/x.rs", "use super::y::Y;\npub struct X;\n"),
            ("net/y.rs", "pub struct Y;\nfn f() -> super::x::X { todo!() }\n"),
        ]);
        assert_eq!(found, ["fixture: net::x -> net::y -> net::x (src/net/x.rs, src/net/y.rs)"]);
    }

    #[test]
    fn inline_crate_paths_are_edges_to_the_longest_existing_module() {
        let found = described(&[
            ("lib.rs", "pub mod a;\npub fn top() {}\n"),
            ("a/mod.rs", "pub mod b;\n"),
            ("a/b.rs", "pub fn f() { crate::top(); }\n"),
            // crate::a::b::f -> a::b (not a), crate::top -> the root
        ]);
        assert!(found.is_empty(), "{found:?}");
        // the root only declares `pub mod a;` (no edge), so there is no circle; a `pub use` makes one
        let found = described(&[
            ("lib.rs", "pub mod a;\npub use a::b::f;\npub fn top() {}\n"),
            ("a/mod.rs", "pub mod b;\n"),
            ("a/b.rs", "pub fn f() { let _ = crate::top(); }\n"),
        ]);
        assert_eq!(found, ["fixture: crate -> a::b -> crate (src/lib.rs, src/a/b.rs)"]);
    }

    #[test]
    fn items_the_root_re_exports_count_as_edges_to_their_file() {
        let found = described(&[
            ("lib.rs", "mod client;\nmod error;\npub use client::Client;\npub use error::Error;\n"),
            ("client.rs", "use crate::Error;\npub struct Client;\n"),
            ("error.rs", "pub enum Error { A(crate::Client) }\n"),
        ]);
        assert_eq!(found, ["fixture: client -> error -> client (src/client.rs, src/error.rs)"]);
    }

    #[test]
    fn comments_strings_and_test_modules_are_not_edges() {
        let found = described(&[
            ("lib.rs", "mod a;\nmod b;\n"),
            (
                "a.rs",
                "use crate::b::B;\npub struct A;\n// crate::b\n/* use crate::b; */\nconst S: &str = \"crate::b\";\n",
            ),
            (
                "b.rs",
                "pub struct B;\n/// [`crate::a::A`]\nconst R: &str = r#\"use crate::a::A;\"#;\nconst C: char = '\"';\n\
                 fn f<'a>(x: &'a str) -> &'a str { x }\n\
                 #[cfg(test)]\nmod tests {\n    use super::*;\n    use crate::a::A;\n    fn g() { if true { } }\n}\n",
            ),
        ]);
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn an_outside_crate_re_exported_under_an_alias_is_not_a_module_of_the_crate() {
        // `crate::types::X` goes to wxkf_types, `crate::serde::Y` to serde: no edge to the root
        let found = described(&[
            (
                "lib.rs",
                "mod client;\npub use client::Client;\npub use wxkf_types as types;\npub use serde;\n\
                 pub use other::{self as alias};\n",
            ),
            (
                "client.rs",
                "use crate::types::Endpoint;\npub struct Client;\n\
                 fn f(_: crate::serde::Value, _: crate::alias::Z) {}\n",
            ),
        ]);
        assert!(found.is_empty(), "{found:?}");
        // the same file naming an item the root defines is a circle
        let found = described(&[
            (
                "lib.rs",
                "mod client;\npub use client::Client;\npub use wxkf_types as types;\npub fn top() {}\n",
            ),
            ("client.rs", "use crate::types::Endpoint;\npub struct Client;\nfn f() { crate::top() }\n"),
        ]);
        assert_eq!(found, ["fixture: crate -> client -> crate (src/lib.rs, src/client.rs)"]);
    }

    #[test]
    fn an_alias_of_a_crate_item_is_an_edge_to_its_file() {
        let found = described(&[
            ("lib.rs", "mod a;\nmod b;\npub use a::Thing as Renamed;\n"),
            ("a.rs", "pub struct Thing;\nfn f(_: crate::b::B) {}\n"),
            ("b.rs", "pub struct B;\nfn g(_: crate::Renamed) {}\n"),
        ]);
        assert_eq!(found, ["fixture: a -> b -> a (src/a.rs, src/b.rs)"]);
    }

    #[test]
    fn test_modules_with_more_attributes_are_not_edges() {
        let found = described(&[
            ("lib.rs", "mod a;\npub use a::A;\n"),
            (
                "a.rs",
                "pub struct A;\n#[cfg(test)]\n#[allow(clippy::unwrap_used)]\nmod tests {\n    use super::*;\n}\n",
            ),
        ]);
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn super_inside_an_inline_module_stays_in_the_file() {
        let found = described(&[
            ("lib.rs", "mod a;\npub use a::A;\n"),
            ("a.rs", "pub struct A;\npub mod inner {\n    use super::A;\n    fn f() -> super::A { A }\n}\n"),
        ]);
        assert!(found.is_empty(), "{found:?}");
        // two levels up from an inline module of `net::x` is the root
        let found = described(&[
            ("lib.rs", "mod net;\npub use net::x::X;\npub fn top() {}\n"),
            ("net/mod.rs", "pub mod x;\n"),
            ("net/x.rs", "pub struct X;\nmod inner {\n    fn f() { super::super::super::top() }\n}\n"),
        ]);
        assert_eq!(found, ["fixture: crate -> net::x -> crate (src/lib.rs, src/net/x.rs)"]);
    }

    #[test]
    fn exported_macros_and_metavariable_paths_are_the_defining_files() {
        let found = described(&[
            ("lib.rs", "mod table;\nmod a;\npub use table::ALL;\n"),
            (
                "table.rs",
                "#[macro_export]\nmacro_rules! rows { ($m:ident) => { $m!(a::A) } }\n\
                 macro_rules! define { ($area:ident :: $t:ident) => { pub const ALL: &[&str] = &[stringify!(crate::$area::$t)]; } }\n\
                 crate::rows!(define);\n",
            ),
            ("a.rs", "pub struct A;\n"),
        ]);
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn module_paths_follow_the_file_layout() {
        assert_eq!(module_path(Path::new("lib.rs")), "");
        assert_eq!(module_path(Path::new("main.rs")), "");
        assert_eq!(module_path(Path::new("a.rs")), "a");
        assert_eq!(module_path(Path::new("a/mod.rs")), "a");
        assert_eq!(module_path(Path::new("a/b.rs")), "a::b");
    }
}
