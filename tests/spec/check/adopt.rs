//! `check` as a team adopts it on real CORA modules: waivers, severity, findings that point at
//! the one edit that fixes them, and `--fix`. The fixture `ws_module` has the real modules'
//! shape: a runtime local shared by several functions and layers, layers attached through
//! variables, an env that passes `module_name` to some modules and not to this one.

use crate::common::*;

use super::{edit, remove_block};

/// `check --json`: the exit code and each finding as `severity[code] file:line: message`, a
/// waived one as `waived[code] file:line: reason`.
fn findings(d: &Demo) -> (i32, Vec<String>) {
    let out = d.xtask(&["check", "--json"]);
    let json = out.json();
    let list = json["findings"].as_array().unwrap().iter().map(|f| {
        let at = format!("{}:{}", f["file"].as_str().unwrap(), f["line"]);
        if f["waived"] == true {
            format!(
                "waived[{}] {at}: {}",
                f["code"].as_str().unwrap(),
                f["reason"].as_str().unwrap()
            )
        } else {
            assert_eq!(f["waived"], false, "{f}");
            assert!(f.get("reason").is_none(), "{f}");
            format!(
                "{}[{}] {at}: {}",
                f["severity"].as_str().unwrap(),
                f["code"].as_str().unwrap(),
                f["message"].as_str().unwrap()
            )
        }
    });
    (out.code, list.collect())
}

const AI_MAIN: &str = "packages/module-ai/infrastructure/main.tf";

/// module-ai's ai_config on python3.12: one F4-runtime error at main.tf:52.
fn ai_on_312(d: &Demo) {
    edit(
        &d.path(AI_MAIN),
        "runtime          = \"python3.13\"",
        "runtime          = \"python3.12\"",
    );
}

#[test]
fn a_waiver_in_xtask_toml_accepts_a_finding_and_says_why() {
    let d = Demo::new();
    ai_on_312(&d);
    d.config(
        "[[check.allow]]\ncode = \"F4-runtime\"\npath = \"demo-stack/packages/module-ai/**\"\n\
         reason = \"the vendor SDK is not on 3.13 yet\"\n",
    );
    assert_eq!(
        findings(&d),
        (
            0,
            vec![
                "waived[F4-runtime] demo-stack/packages/module-ai/infrastructure/main.tf:52: \
                  the vendor SDK is not on 3.13 yet"
                    .into()
            ]
        )
    );
    let human = d.xtask(&["check"]).ok();
    assert_eq!(
        human.stdout,
        "waived:\n  [F4-runtime] demo-stack/packages/module-ai/infrastructure/main.tf:52: the \
         vendor SDK is not on 3.13 yet\n\ncheck: 0 errors, 0 warnings, 1 waived\n"
    );
    // The path is a glob over the findings' paths: another module is not waived.
    d.config(
        "[[check.allow]]\ncode = \"F4-runtime\"\npath = \"demo-stack/packages/module-mgmt/**\"\n\
         reason = \"r\"\n",
    );
    let (code, list) = findings(&d);
    assert_eq!(code, 1);
    assert_eq!(
        list,
        [
            "error[F4-runtime] demo-stack/packages/module-ai/infrastructure/main.tf:52: \
             aws_lambda_function.ai_config has runtime \"python3.12\" but the build targets \
             python3.13",
            "warning[XT-unused-waiver] demo-stack/xtask.toml:0: [[check.allow]] code = \
             \"F4-runtime\", path = \"demo-stack/packages/module-mgmt/**\" matches no finding",
        ]
    );
}

#[test]
fn inline_waivers_on_the_line_or_the_line_above() {
    let d = Demo::new();
    ai_on_312(&d);
    edit(
        &d.path(AI_MAIN),
        "  runtime          = \"python3.12\"",
        "  # xtask: allow F4-runtime -- pinned with the vendor SDK\n  runtime          = \
         \"python3.12\"",
    );
    let handler = "packages/module-ai/backend/lambdas/provider/lambda_function.py";
    let text = d.read(handler);
    d.write(
        handler,
        &format!(
            "{text}\n\ndef vertex():\n    import vertexai  # xtask: allow \
             F18-unresolved-import -- only on the Vertex path, which ships its own layer\n    \
             return vertexai\n"
        ),
    );
    let n = text.lines().count() + 4;
    assert_eq!(
        findings(&d),
        (
            0,
            vec![
                format!(
                    "waived[F18-unresolved-import] \
                     demo-stack/packages/module-ai/backend/lambdas/provider/lambda_function.py:\
                     {n}: only on the Vertex path, which ships its own layer"
                ),
                "waived[F4-runtime] demo-stack/packages/module-ai/infrastructure/main.tf:53: \
                 pinned with the vendor SDK"
                    .into(),
            ]
        )
    );
}

#[test]
fn stale_waivers_warn_and_waivers_without_a_reason_are_errors() {
    let d = Demo::new();
    ai_on_312(&d);
    d.config(
        "[[check.allow]]\ncode = \"F4-runtime\"\n\n\
         [[check.allow]]\ncode = \"F14-zip-unused\"\nreason = \"kept for the rollback\"\n\n\
         [[check.allow]]\ncode = \"F4-runtimes\"\nreason = \"typo\"\n",
    );
    edit(
        &d.path("packages/module-mgmt/infrastructure/main.tf"),
        "locals {",
        "# xtask: allow F4-runtime\nlocals {",
    );
    assert_eq!(
        findings(&d),
        (
            1,
            vec![
                "error[F4-runtime] demo-stack/packages/module-ai/infrastructure/main.tf:52: \
                 aws_lambda_function.ai_config has runtime \"python3.12\" but the build targets \
                 python3.13"
                    .into(),
                "error[XT-waiver-no-reason] demo-stack/packages/module-mgmt/infrastructure/\
                 main.tf:1: xtask: allow F4-runtime gives no reason, so it waives nothing"
                    .into(),
                "warning[XT-unused-waiver] demo-stack/xtask.toml:0: [[check.allow]] code = \
                 \"F14-zip-unused\" matches no finding"
                    .into(),
                "warning[XT-unused-waiver] demo-stack/xtask.toml:0: [[check.allow]] code = \
                 \"F4-runtimes\" matches no finding (\"F4-runtimes\" is not a check code)"
                    .into(),
                "error[XT-waiver-no-reason] demo-stack/xtask.toml:0: [[check.allow]] code = \
                 \"F4-runtime\" gives no reason, so it waives nothing"
                    .into(),
            ]
        )
    );
}

#[test]
fn severity_demotes_or_promotes_a_code() {
    let d = Demo::new();
    edit(
        &d.path("packages/module-ai/infrastructure/main.tf"),
        "timeout          = 15",
        "timeout          = 900",
    );
    remove_block(
        &d.path("packages/module-mgmt/infrastructure/outputs.tf"),
        "output \"api_routes\"",
    );
    d.config(
        "[check]\nseverity = { \"F11-no-api-routes\" = \"warning\", \"F17-timeout\" = \"error\" }\n",
    );
    let (code, list) = findings(&d);
    assert_eq!(code, 1, "{list:#?}");
    assert_eq!(
        list,
        [
            "error[F17-timeout] demo-stack/packages/module-ai/infrastructure/main.tf:56: \
             aws_lambda_function.ai_config has timeout = 900 but is routed through the HTTP \
             API, whose integrations give up after 30 s",
            "warning[F11-no-api-routes] demo-stack/packages/module-mgmt/infrastructure/\
             outputs.tf:0: module-mgmt does not export api_routes: its Lambdas deploy but no \
             route reaches them, so every endpoint returns 404",
        ]
    );
    d.config("[check]\nseverity = { \"F17-timeout\" = \"warning\", \"F99-nope\" = \"warning\" }\n");
    let (code, list) = findings(&d);
    assert_eq!(code, 1, "{list:#?}");
    assert!(list[0].starts_with("warning[F17-timeout]"), "{list:#?}");
    assert_eq!(
        list.last().unwrap(),
        "error[XT-unknown-code] demo-stack/xtask.toml:0: [check] severity names \"F99-nope\", \
         which is not a check code"
    );
}
