//! Just enough Python lexing for F10 and F18: the imports a file makes and whether it defines
//! `lambda_handler`. A line scanner, not a parser: it strips strings and comments, joins
//! logical lines (brackets, backslashes), splits one-line compound statements (`try: import x`),
//! and reads `import`/`from` statements.

/// One absolute import: the top-level module it needs at runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    /// `a` for `import a.b` and `from a.b import c`.
    pub module: String,
    pub line: usize,
    /// Inside `try:` with an `except` that catches `ImportError`: the code has a fallback.
    pub optional: bool,
}

/// A logical line: strings replaced by `""`, comments dropped, continuations joined.
#[derive(Debug)]
struct Logical {
    line: usize,
    indent: usize,
    text: String,
}

fn logical_lines(src: &str) -> Vec<Logical> {
    // Python reads CRLF as LF; so must every `\n` below (continuations, strings, line numbers).
    let chars: Vec<char> = src.replace("\r\n", "\n").chars().collect();
    let n = chars.len();
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    let mut out = Vec::new();
    let (mut cur, mut indent, mut start, mut line, mut depth) = (String::new(), 0, 1, 1, 0usize);
    let mut i = 0;
    while i < n {
        let c = chars[i];
        match c {
            '\n' => {
                line += 1;
                if depth == 0 {
                    let text = cur.trim();
                    if !text.is_empty() {
                        out.push(Logical {
                            line: start,
                            indent,
                            text: text.to_string(),
                        });
                    }
                    cur.clear();
                    indent = 0;
                } else {
                    cur.push(' ');
                }
                i += 1;
            }
            ' ' | '\t' | '\x0c' | '\r' => {
                if cur.is_empty() {
                    indent = if c == '\t' {
                        indent / 8 * 8 + 8
                    } else {
                        indent + 1
                    };
                } else {
                    cur.push(' ');
                }
                i += 1;
            }
            '#' => {
                while i < n && chars[i] != '\n' {
                    i += 1;
                }
            }
            '\\' if at(i + 1) == '\n' => {
                line += 1;
                cur.push(' ');
                i += 2;
            }
            '"' | '\'' => {
                if cur.is_empty() {
                    start = line;
                }
                let triple = at(i + 1) == c && at(i + 2) == c;
                i += if triple { 3 } else { 1 };
                while i < n {
                    match chars[i] {
                        '\\' => {
                            if at(i + 1) == '\n' {
                                line += 1;
                            }
                            i += 2;
                        }
                        '\n' if !triple => break, // unterminated: the newline ends the line
                        '\n' => {
                            line += 1;
                            i += 1;
                        }
                        q if q == c && (!triple || (at(i + 1) == c && at(i + 2) == c)) => {
                            i += if triple { 3 } else { 1 };
                            break;
                        }
                        _ => i += 1,
                    }
                }
                cur.push_str("\"\"");
            }
            _ => {
                if cur.is_empty() {
                    start = line;
                }
                match c {
                    '(' | '[' | '{' => depth += 1,
                    ')' | ']' | '}' => depth = depth.saturating_sub(1),
                    _ => {}
                }
                cur.push(c);
                i += 1;
            }
        }
    }
    let text = cur.trim();
    if !text.is_empty() {
        out.push(Logical {
            line: start,
            indent,
            text: text.to_string(),
        });
    }
    out.into_iter().flat_map(split_one_liner).collect()
}

/// Statements that open a block, so `try: import x` holds a body after its colon.
const COMPOUND: [&str; 14] = [
    "if", "elif", "else", "try", "except", "finally", "with", "for", "while", "async", "def",
    "class", "match", "case",
];

/// `if x: import y` → `if x:` and `import y` one level deeper, so a one-line compound
/// statement is read (headers, `try`/`except`) exactly like its multi-line form.
fn split_one_liner(l: Logical) -> Vec<Logical> {
    let mut words = l.text.split(|c: char| !(c.is_alphanumeric() || c == '_'));
    if !words.next().is_some_and(|w| COMPOUND.contains(&w)) {
        return vec![l];
    }
    // Strings are already `""`, so the header ends at the first colon outside brackets that is
    // not a walrus `:=`.
    let mut depth = 0usize;
    let colon = l.text.char_indices().find(|&(i, c)| {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        c == ':' && depth == 0 && !l.text[i + 1..].starts_with('=')
    });
    let Some((i, _)) = colon.filter(|&(i, _)| !l.text[i + 1..].trim().is_empty()) else {
        return vec![l];
    };
    let body = Logical {
        line: l.line,
        indent: l.indent + 1,
        text: l.text[i + 1..].trim().to_string(),
    };
    let header = Logical {
        text: l.text[..=i].to_string(),
        ..l
    };
    vec![header, body]
}

/// `kw rest` → `rest` when `s` starts with the keyword as a whole word.
fn keyword<'a>(s: &'a str, kw: &str) -> Option<&'a str> {
    let rest = s.strip_prefix(kw)?;
    rest.starts_with(|c: char| c.is_whitespace() || c == '.' || c == '(')
        .then_some(rest)
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_')
}

/// Top-level modules one statement imports; relative imports need nothing from outside.
fn statement_imports(stmt: &str) -> Vec<String> {
    if let Some(rest) = keyword(stmt, "import") {
        return rest
            .split(',')
            .filter_map(|part| {
                let name = part.split(" as ").next()?.trim();
                let top = name.split('.').next()?.trim();
                is_identifier(top).then(|| top.to_string())
            })
            .collect();
    }
    if let Some(rest) = keyword(stmt, "from") {
        let module = rest.split_whitespace().next().unwrap_or_default();
        let top = module.split('.').next().unwrap_or_default();
        if !module.starts_with('.') && is_identifier(top) {
            return vec![top.to_string()];
        }
    }
    Vec::new()
}

/// Whether an `except …:` clause catches a failed import.
fn catches_import_error(clause: &str) -> bool {
    let types = clause
        .trim_start_matches("except")
        .trim_end_matches(':')
        .trim();
    types.is_empty()
        || types
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .any(|t| {
                matches!(
                    t,
                    "ImportError" | "ModuleNotFoundError" | "Exception" | "BaseException"
                )
            })
}

/// The absolute imports of a Python file, in order. Imports under `if TYPE_CHECKING:` never run
/// and are left out.
pub fn imports(src: &str) -> Vec<Import> {
    let lines = logical_lines(src);
    let mut out = Vec::new();
    for (k, l) in lines.iter().enumerate() {
        for stmt in l.text.split(';') {
            let modules = statement_imports(stmt.trim());
            if modules.is_empty() {
                continue;
            }
            let mut optional = false;
            let mut type_only = false;
            for h in headers(&lines, k) {
                let header = lines[h].text.as_str();
                if is_type_checking(header) {
                    type_only = true;
                }
                if header == "try:" && try_catches_import_error(&lines, h, k) {
                    optional = true;
                }
            }
            if type_only {
                continue;
            }
            out.extend(modules.into_iter().map(|module| Import {
                module,
                line: l.line,
                optional,
            }));
        }
    }
    out
}

/// `if TYPE_CHECKING:` (or `typing.TYPE_CHECKING`): a block that never runs. `if not
/// TYPE_CHECKING:` does run.
fn is_type_checking(header: &str) -> bool {
    keyword(header, "if").is_some_and(|rest| {
        let cond = rest.trim().trim_end_matches(':').trim();
        cond == "TYPE_CHECKING" || cond.ends_with(".TYPE_CHECKING")
    })
}

/// Indices of the block headers enclosing logical line `k`, innermost first.
fn headers(lines: &[Logical], k: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut indent = lines[k].indent;
    for j in (0..k).rev() {
        if indent == 0 {
            break;
        }
        if lines[j].indent < indent && lines[j].text.ends_with(':') {
            out.push(j);
            indent = lines[j].indent;
        }
    }
    out
}

/// Whether the `try:` at `t`, whose body holds line `k`, has an except clause for imports.
fn try_catches_import_error(lines: &[Logical], t: usize, k: usize) -> bool {
    let indent = lines[t].indent;
    for l in &lines[k + 1..] {
        if l.indent > indent {
            continue;
        }
        if l.indent < indent {
            return false;
        }
        if l.text.starts_with("except") && catches_import_error(&l.text) {
            return true;
        }
        if keyword(&l.text, "except").is_none() && !l.text.starts_with("except:") {
            return false;
        }
    }
    false
}

/// Whether a handler file binds `lambda_handler` at module level (a `def`, an assignment or
/// an import).
pub fn defines_handler(src: &str) -> bool {
    logical_lines(src)
        .iter()
        .filter(|l| l.indent == 0)
        .flat_map(|l| l.text.split(';').map(str::trim).collect::<Vec<_>>())
        .any(|stmt| {
            let def = keyword(stmt, "def").or_else(|| keyword(stmt, "async def"));
            if let Some(rest) = def {
                return rest
                    .trim_start()
                    .strip_prefix("lambda_handler")
                    .is_some_and(|r| r.trim_start().starts_with('('));
            }
            if let Some(rest) = stmt.strip_prefix("lambda_handler") {
                let rest = rest.trim_start();
                return (rest.starts_with('=') && !rest.starts_with("==")) || rest.starts_with(':');
            }
            let bound = keyword(stmt, "from")
                .and_then(|r| r.split_once(" import "))
                .map(|(_, names)| names)
                .or_else(|| keyword(stmt, "import"));
            bound.is_some_and(|names| {
                names
                    .trim_matches(|c: char| c == '(' || c == ')' || c.is_whitespace())
                    .split(',')
                    .filter_map(|n| n.split(" as ").last())
                    .any(|n| n.trim() == "lambda_handler")
            })
        })
}

/// Whether `name` is a module of the Python 3.13 standard library.
pub fn is_stdlib(name: &str) -> bool {
    STDLIB_3_13.binary_search(&name).is_ok()
}

/// `sys.stdlib_module_names` of CPython 3.13, sorted. Derived from 3.11's (the build host's):
/// minus what 3.12 and 3.13 removed (distutils, imp, asynchat, asyncore, smtpd, the PEP 594
/// "dead batteries", lib2to3, and the private _sha256, _sha512, _bootsubprocess, _crypt, _msi),
/// plus what they added (_colorize, _pyrepl, _interp*, _suggestions, _sysconfig,
/// _opcode_metadata, _pydatetime, _pylong, _wmi, _sha2, _android_support, _apple_support,
/// _ios_support). Used for every target Python: the differences between 3.12 and 3.13 are
/// modules nobody imports from a Lambda.
#[rustfmt::skip]
static STDLIB_3_13: [&str; 290] = [
    "__future__", "_abc", "_aix_support", "_android_support", "_apple_support", "_ast", "_asyncio",
    "_bisect", "_blake2", "_bz2", "_codecs", "_codecs_cn", "_codecs_hk", "_codecs_iso2022",
    "_codecs_jp", "_codecs_kr", "_codecs_tw", "_collections", "_collections_abc", "_colorize",
    "_compat_pickle", "_compression", "_contextvars", "_csv", "_ctypes", "_curses", "_curses_panel",
    "_datetime", "_dbm", "_decimal", "_elementtree", "_frozen_importlib",
    "_frozen_importlib_external", "_functools", "_gdbm", "_hashlib", "_heapq", "_imp",
    "_interpchannels", "_interpqueues", "_interpreters", "_io", "_ios_support", "_json", "_locale",
    "_lsprof", "_lzma", "_markupbase", "_md5", "_multibytecodec", "_multiprocessing", "_opcode",
    "_opcode_metadata", "_operator", "_osx_support", "_overlapped", "_pickle", "_posixshmem",
    "_posixsubprocess", "_py_abc", "_pydatetime", "_pydecimal", "_pyio", "_pylong", "_pyrepl",
    "_queue", "_random", "_scproxy", "_sha1", "_sha2", "_sha3", "_signal", "_sitebuiltins",
    "_socket", "_sqlite3", "_sre", "_ssl", "_stat", "_statistics", "_string", "_strptime",
    "_struct", "_suggestions", "_symtable", "_sysconfig", "_thread", "_threading_local", "_tkinter",
    "_tokenize", "_tracemalloc", "_typing", "_uuid", "_warnings", "_weakref", "_weakrefset",
    "_winapi", "_wmi", "_zoneinfo", "abc", "antigravity", "argparse", "array", "ast", "asyncio",
    "atexit", "base64", "bdb", "binascii", "bisect", "builtins", "bz2", "cProfile", "calendar",
    "cmath", "cmd", "code", "codecs", "codeop", "collections", "colorsys", "compileall",
    "concurrent", "configparser", "contextlib", "contextvars", "copy", "copyreg", "csv", "ctypes",
    "curses", "dataclasses", "datetime", "dbm", "decimal", "difflib", "dis", "doctest", "email",
    "encodings", "ensurepip", "enum", "errno", "faulthandler", "fcntl", "filecmp", "fileinput",
    "fnmatch", "fractions", "ftplib", "functools", "gc", "genericpath", "getopt", "getpass",
    "gettext", "glob", "graphlib", "grp", "gzip", "hashlib", "heapq", "hmac", "html", "http",
    "idlelib", "imaplib", "importlib", "inspect", "io", "ipaddress", "itertools", "json", "keyword",
    "linecache", "locale", "logging", "lzma", "mailbox", "marshal", "math", "mimetypes", "mmap",
    "modulefinder", "msvcrt", "multiprocessing", "netrc", "nt", "ntpath", "nturl2path", "numbers",
    "opcode", "operator", "optparse", "os", "pathlib", "pdb", "pickle", "pickletools", "pkgutil",
    "platform", "plistlib", "poplib", "posix", "posixpath", "pprint", "profile", "pstats", "pty",
    "pwd", "py_compile", "pyclbr", "pydoc", "pydoc_data", "pyexpat", "queue", "quopri", "random",
    "re", "readline", "reprlib", "resource", "rlcompleter", "runpy", "sched", "secrets", "select",
    "selectors", "shelve", "shlex", "shutil", "signal", "site", "smtplib", "socket", "socketserver",
    "sqlite3", "sre_compile", "sre_constants", "sre_parse", "ssl", "stat", "statistics", "string",
    "stringprep", "struct", "subprocess", "symtable", "sys", "sysconfig", "syslog", "tabnanny",
    "tarfile", "tempfile", "termios", "textwrap", "this", "threading", "time", "timeit", "tkinter",
    "token", "tokenize", "tomllib", "trace", "traceback", "tracemalloc", "tty", "turtle",
    "turtledemo", "types", "typing", "unicodedata", "unittest", "urllib", "uuid", "venv",
    "warnings", "wave", "weakref", "webbrowser", "winreg", "winsound", "wsgiref", "xml", "xmlrpc",
    "zipapp", "zipfile", "zipimport", "zlib", "zoneinfo",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn names(src: &str) -> Vec<(String, usize, bool)> {
        imports(src)
            .into_iter()
            .map(|i| (i.module, i.line, i.optional))
            .collect()
    }

    #[test]
    fn imports_under_not_type_checking_and_in_match_cases_run() {
        let src = "from typing import TYPE_CHECKING\nif not TYPE_CHECKING:\n    import a\n\
                   if typing.TYPE_CHECKING:\n    import t\nmatch x:\n    case 1:\n        \
                   import b\n    case {\"k\": 1}: import c\n    case _:\n        from d import e\n\
                   match = 1\n";
        let found: Vec<String> = names(src).into_iter().map(|(m, _, _)| m).collect();
        assert_eq!(found, ["typing", "a", "b", "c", "d"]);
    }

    #[test]
    fn plain_dotted_aliased_and_multiple_imports() {
        let src = "import os\nimport a.b.c as d, e\nfrom x.y import z\nimport json; import re\n";
        assert_eq!(
            names(src),
            [
                ("os".into(), 1, false),
                ("a".into(), 2, false),
                ("e".into(), 2, false),
                ("x".into(), 3, false),
                ("json".into(), 4, false),
                ("re".into(), 4, false),
            ]
        );
    }

    #[test]
    fn multi_line_from_imports_report_their_first_line() {
        let src = "\"\"\"Doc.\"\"\"\n\nfrom org_common import (\n    a,  # why\n    b,\n)\nfrom pkg \\\n    import c\nimport d\n";
        assert_eq!(
            names(src),
            [
                ("org_common".into(), 3, false),
                ("pkg".into(), 7, false),
                ("d".into(), 9, false)
            ]
        );
    }

    #[test]
    fn relative_imports_need_nothing() {
        assert_eq!(
            names("from . import a\nfrom .x import y\nfrom ..z import w\nfrom.q import r\n"),
            []
        );
    }

    #[test]
    fn strings_docstrings_and_comments_are_not_code() {
        let src = r#""""
import fake_in_docstring
from also_fake import x
"""
s = "import nope"
t = 'from nope import x'
u = '''
import nope2
'''
# import commented
x = f"{'a'} import z"
important = 1
from_here = 2
import real  # import trailing
"#;
        assert_eq!(names(src), [("real".into(), 14, false)]);
    }

    #[test]
    fn escaped_quotes_do_not_end_strings() {
        let src = "s = \"a \\\" import x\"\nimport y\n";
        assert_eq!(names(src), [("y".into(), 2, false)]);
    }

    #[test]
    fn imports_guarded_by_import_error_are_optional() {
        let src = "try:\n    import ujson as json\nexcept ImportError:\n    import json\n\ntry:\n    import a\nexcept (ValueError, ModuleNotFoundError):\n    pass\n\ntry:\n    import b\nexcept KeyError:\n    pass\n\ndef f():\n    try:\n        if True:\n            import c\n    except Exception:\n        c = None\n";
        assert_eq!(
            names(src),
            [
                ("ujson".into(), 2, true),
                ("json".into(), 4, false),
                ("a".into(), 7, true),
                ("b".into(), 12, false),
                ("c".into(), 19, true),
            ]
        );
    }

    #[test]
    fn type_checking_imports_never_run() {
        let src = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import mypy_boto3_s3\nimport boto3\n";
        assert_eq!(
            names(src),
            [("typing".into(), 1, false), ("boto3".into(), 4, false)]
        );
    }

    #[test]
    fn one_line_compound_statements_import_too() {
        let src = "try: import ujson\nexcept ImportError: ujson = None\nif X: import y\nelse: import z\nwith a() as b: import w\nif TYPE_CHECKING: import t\nif n := f(): import v\nif d[1:2]: import u\ndef f(): import s\n";
        assert_eq!(
            names(src),
            [
                ("ujson".into(), 1, true),
                ("y".into(), 3, false),
                ("z".into(), 4, false),
                ("w".into(), 5, false),
                ("v".into(), 7, false),
                ("u".into(), 8, false),
                ("s".into(), 9, false),
            ]
        );
        let nested =
            "def f():\n    try: import a; import b\n    except (KeyError, ImportError): pass\n";
        assert_eq!(
            names(nested),
            [("a".into(), 2, true), ("b".into(), 2, true)]
        );
        assert!(defines_handler("def lambda_handler(e, c): return 1\n"));
    }

    #[test]
    fn crlf_line_endings_read_like_lf() {
        let src = "import os, \\\r\n    sys\r\nfrom a import (\r\n    b,\r\n)\r\ns = \"x \\\r\ny\"\r\nimport c\r\n";
        assert_eq!(
            names(src),
            [
                ("os".into(), 1, false),
                ("sys".into(), 1, false),
                ("a".into(), 3, false),
                ("c".into(), 8, false),
            ]
        );
    }

    #[test]
    fn handler_definitions() {
        assert!(defines_handler(
            "import os\n\ndef lambda_handler(event, context):\n    pass\n"
        ));
        assert!(defines_handler("@wrap\ndef lambda_handler (e, c): pass\n"));
        assert!(defines_handler("lambda_handler = make_handler()\n"));
        assert!(defines_handler(
            "from app import handler as lambda_handler\n"
        ));
        assert!(defines_handler(
            "from app import (\n  x,\n  lambda_handler,\n)\n"
        ));
        assert!(!defines_handler("def handler(event, context):\n    pass\n"));
        assert!(!defines_handler(
            "class A:\n    def lambda_handler(self):\n        pass\n"
        ));
        assert!(!defines_handler(
            "\"\"\"def lambda_handler(e, c)\"\"\"\n# def lambda_handler(\n"
        ));
        assert!(!defines_handler(
            "def lambda_handler_v2(e, c): pass\nlambda_handler == 1\n"
        ));
    }

    #[test]
    fn stdlib_list_is_sorted_and_targets_313() {
        assert!(STDLIB_3_13.windows(2).all(|w| w[0] < w[1]));
        for m in [
            "os",
            "json",
            "urllib",
            "dataclasses",
            "tomllib",
            "zoneinfo",
            "__future__",
            "_pyrepl",
        ] {
            assert!(is_stdlib(m), "{m}");
        }
        for m in [
            "distutils",
            "imp",
            "cgi",
            "telnetlib",
            "lib2to3",
            "boto3",
            "org_common",
        ] {
            assert!(!is_stdlib(m), "{m}");
        }
    }
}
