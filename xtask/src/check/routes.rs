//! F11 each module's `api_routes`, F17 rules across all routes.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

use hcl_edit::expr::Expression;

use super::{Checker, ModuleTf};
use crate::stack::hcl::{self as tf, TfFile};

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// What a module's `api_routes` says.
#[derive(Default)]
pub(super) struct ModuleRoutes {
    pub(super) exported: bool,
    /// Route objects, valid or not: each becomes one route and one integration.
    pub(super) count: usize,
    /// Routes with a valid method and path.
    pub(super) routes: Vec<Route>,
}

pub(super) struct Route {
    pub(super) method: String,
    pub(super) path: String,
    pub(super) file: PathBuf,
    pub(super) line: usize,
    /// The `aws_lambda_function` resource the integration invokes, when known.
    pub(super) function: Option<String>,
}

impl Checker<'_> {
    /// F11: the module's `api_routes` output, route by route.
    pub(super) fn module_routes(&mut self, m: &ModuleTf) -> ModuleRoutes {
        let mut out = ModuleRoutes::default();
        let Some((file, block)) = tf::api_routes_output(&m.files) else {
            if m.readable {
                self.error(
                    "F11-no-api-routes",
                    &m.infra.join("outputs.tf"),
                    0,
                    format!(
                        "{} does not export api_routes: its Lambdas deploy but no route reaches \
                         them, so every endpoint returns 404",
                        m.name
                    ),
                    "add output \"api_routes\" { value = [{ method = \"GET\", path = \"/…\", \
                     integration = aws_lambda_function.<fn>.invoke_arn, public = false }] }"
                        .into(),
                );
            }
            return out;
        };
        out.exported = true;
        let items = tf::attr(&block.body, "value").and_then(|v| tf::list_items(v, &m.files));
        let Some(items) = items else {
            self.warn(
                "F11-routes-unchecked",
                &file.path,
                file.line_of(block),
                format!(
                    "api_routes of {} is not a list of route objects check can read, so its \
                     routes are not checked",
                    m.name
                ),
                "write api_routes as a list of { method, path, integration, public } objects \
                 (concat of such lists is fine)"
                    .into(),
            );
            return out;
        };
        for item in items {
            let line = file.line_of(item);
            let Expression::Object(obj) = item else {
                self.warn(
                    "F11-routes-unchecked",
                    &file.path,
                    line,
                    "this api_routes entry is not a { method, path, integration, public } \
                     object, so it is not checked"
                        .into(),
                    "write each route as an object literal".into(),
                );
                continue;
            };
            out.count += 1;
            let fields: HashMap<&str, &Expression> = tf::object_fields(obj).collect();
            if let Some(route) = self.route(m, file, line, &fields) {
                out.routes.push(route);
            }
        }
        out
    }

    fn route(
        &mut self,
        m: &ModuleTf,
        file: &TfFile,
        line: usize,
        fields: &HashMap<&str, &Expression>,
    ) -> Option<Route> {
        let at = |k: &str| fields.get(k).map_or(line, |e| file.line_of(*e));
        let method = fields.get("method").and_then(|e| e.as_str());
        let path = fields.get("path").and_then(|e| e.as_str());
        let label = format!("route {} {}", method.unwrap_or("?"), path.unwrap_or("?"));
        let mut ok = true;

        let method_problem = match (fields.get("method"), method) {
            (None, _) => Some("has no method".to_string()),
            (Some(_), None) => Some("has a method that is not a string literal".to_string()),
            (Some(_), Some(verb)) if !METHODS.contains(&verb) => Some(format!(
                "has method \"{verb}\", which is not one of {}",
                METHODS.join(", ")
            )),
            _ => None,
        };
        if let Some(problem) = method_problem {
            ok = false;
            self.error(
                "F11-route-method",
                &file.path,
                at("method"),
                format!("{label} {problem}"),
                format!("set method to one of {}, in capitals", METHODS.join(", ")),
            );
        }

        let bad_path = match (fields.get("path"), path) {
            (None, _) => Some((
                "has no path".to_string(),
                "add path = \"/<resource>\"".to_string(),
            )),
            (Some(_), None) => Some((
                "has a path that is not a string literal".to_string(),
                "write the path as a literal such as \"/orgs/{orgId}\"".to_string(),
            )),
            (Some(_), Some(p)) => path_problem(p),
        };
        if let Some((problem, fix)) = bad_path {
            ok = false;
            self.error(
                "F11-route-path",
                &file.path,
                at("path"),
                format!("{label} {problem}"),
                fix,
            );
        }

        let function = match fields.get("integration") {
            None => {
                self.error(
                    "F11-route-integration",
                    &file.path,
                    line,
                    format!("{label} has no integration"),
                    "add integration = aws_lambda_function.<fn>.invoke_arn".into(),
                );
                None
            }
            Some(e) => match integration_target(e, &m.files) {
                Ok(function) => function,
                Err((problem, fix)) => {
                    self.error(
                        "F11-route-integration",
                        &file.path,
                        at("integration"),
                        format!("{label} {problem}"),
                        fix,
                    );
                    None
                }
            },
        };

        let public_problem = match fields.get("public") {
            None => Some("has no public flag (the gateway's route type requires it)".to_string()),
            Some(Expression::String(s)) => Some(format!(
                "has public = \"{}\", a string, not a bool",
                s.value()
            )),
            Some(
                e @ (Expression::Number(_)
                | Expression::Null(_)
                | Expression::Array(_)
                | Expression::Object(_)),
            ) => Some(format!("has public = {}, not a bool", e.to_string().trim())),
            _ => None,
        };
        if let Some(problem) = public_problem {
            self.error(
                "F11-route-public",
                &file.path,
                at("public"),
                format!("{label} {problem}"),
                "set public = false, or true for a route that skips the authorizer".into(),
            );
        }

        Some(Route {
            method: method?.to_string(),
            path: path?.to_string(),
            file: file.path.clone(),
            line,
            function,
        })
        .filter(|_| ok)
    }

    /// F17 across all modules' routes: duplicates, parameter names.
    pub(super) fn route_rules(&mut self, routes: &[ModuleRoutes]) {
        let mut seen: HashMap<(&str, &str), &Route> = HashMap::new();
        let mut params: HashMap<String, (&str, &Route)> = HashMap::new();
        let mut reported: BTreeSet<(String, &str)> = BTreeSet::new();
        for r in routes.iter().flat_map(|m| &m.routes) {
            if let Some(first) = seen.get(&(r.method.as_str(), r.path.as_str())) {
                let at = format!("{}:{}", self.rel(&first.file), first.line);
                self.error(
                    "F17-duplicate-route",
                    &r.file,
                    r.line,
                    format!(
                        "route {} {} is also declared at {at}; the gateway keys routes by method \
                         and path, so the plan fails",
                        r.method, r.path
                    ),
                    "remove one of them, or give one another path".into(),
                );
            } else {
                seen.insert((&r.method, &r.path), r);
            }
            let segments: Vec<&str> = r.path.split('/').skip(1).collect();
            for (i, seg) in segments.iter().enumerate() {
                let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) else {
                    continue;
                };
                let shape: Vec<&str> = segments[..i]
                    .iter()
                    .map(|s| if s.starts_with('{') { "{}" } else { s })
                    .collect();
                let key = format!("/{}", shape.join("/"));
                match params.get(&key) {
                    Some((other, first)) if *other != name => {
                        if reported.insert((key.clone(), name)) {
                            let at = format!("{}:{}", self.rel(&first.file), first.line);
                            self.warn(
                                "F17-param-name",
                                &r.file,
                                r.line,
                                format!(
                                    "the parameter after {key} is {{{name}}} in {} but \
                                     {{{other}}} in {} ({at})",
                                    r.path, first.path
                                ),
                                "use one name for the same position in every path; handlers read \
                                 pathParameters by name"
                                    .into(),
                            );
                        }
                        break;
                    }
                    Some(_) => {}
                    None => {
                        params.insert(key, (name, r));
                    }
                }
            }
        }
    }
}

/// The function an integration invokes, or what is wrong with it.
fn integration_target(
    expr: &Expression,
    files: &[TfFile],
) -> Result<Option<String>, (String, String)> {
    let defined = |kind: &str| -> Vec<String> {
        files
            .iter()
            .flat_map(|f| f.resources(kind).map(|(n, _)| n.to_string()))
            .collect()
    };
    let usage = "set integration = aws_lambda_function.<fn>.invoke_arn (or \
                 aws_lambda_alias.<alias>.invoke_arn)";
    let Some(path) = tf::traversal_path(expr) else {
        return Err((
            "has an integration that is not a resource's invoke_arn".into(),
            usage.into(),
        ));
    };
    let parts: Vec<&str> = path.split('.').collect();
    let [kind @ ("aws_lambda_function" | "aws_lambda_alias"), name, attr] = parts.as_slice() else {
        return Err((
            format!("has integration {path}, not a Lambda function's or alias's invoke_arn"),
            usage.into(),
        ));
    };
    // `aws_lambda_function.x[0]` (count) and `["k"]` (for_each) are still resource x.
    let name = name.split('[').next().unwrap_or(name);
    let names = defined(kind);
    if !names.iter().any(|n| n == name) {
        let fix = if names.is_empty() {
            format!("define the {kind} in this module, or point at one that exists")
        } else {
            format!(
                "use one of: {}",
                names
                    .iter()
                    .map(|n| format!("{kind}.{n}.invoke_arn"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        return Err((
            format!("has integration {path}, but the module defines no {kind}.{name}"),
            fix,
        ));
    }
    if *attr != "invoke_arn" {
        return Err((
            format!("has integration {path}; API Gateway needs the invoke ARN"),
            format!("use {kind}.{name}.invoke_arn"),
        ));
    }
    if *kind == "aws_lambda_function" {
        return Ok(Some(name.to_string()));
    }
    // An alias routes to the function named in its function_name.
    let target = files
        .iter()
        .flat_map(|f| f.resources("aws_lambda_alias"))
        .find(|(n, _)| *n == name)
        .and_then(|(_, b)| {
            let p = tf::traversal_path(tf::attr(&b.body, "function_name")?)?;
            p.strip_prefix("aws_lambda_function.")?
                .split(['.', '['])
                .next()
                .map(str::to_string)
        });
    Ok(target)
}

/// What is wrong with a route path, and the fix. The rules are the gateway's: a leading `/`,
/// no empty or trailing segment, literal segments of `[A-Za-z0-9._-]`, parameters `{camelCase}`
/// each named once.
fn path_problem(path: &str) -> Option<(String, String)> {
    let Some(rest) = path.strip_prefix('/') else {
        return Some(("does not start with /".into(), format!("write \"/{path}\"")));
    };
    if rest.is_empty() {
        return Some((
            "has no segment".into(),
            "route a resource path such as \"/profiles/me\"".into(),
        ));
    }
    if rest.ends_with('/') {
        return Some((
            "ends with /".into(),
            format!(
                "write \"{}\": API Gateway treats a trailing slash as another path",
                path.trim_end_matches('/')
            ),
        ));
    }
    let mut names: Vec<&str> = Vec::new();
    for seg in rest.split('/') {
        if seg.is_empty() {
            return Some((
                "has an empty segment (//)".into(),
                "remove the doubled /".into(),
            ));
        }
        if let Some(inner) = seg.strip_prefix('{') {
            let name = inner.strip_suffix('}').unwrap_or(inner);
            let camel = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                && name.chars().all(|c| c.is_ascii_alphanumeric());
            if !inner.ends_with('}') || !camel {
                return Some((
                    format!("has parameter {seg}, which is not {{camelCase}}"),
                    format!("write {{{}}}", camel_case(name)),
                ));
            }
            if names.contains(&name) {
                return Some((
                    format!("names parameter {seg} twice"),
                    "give each parameter its own name".into(),
                ));
            }
            names.push(name);
        } else if let Some(bad) = seg
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "._-".contains(*c)))
        {
            return Some((
                format!(
                    "has segment \"{seg}\" with '{bad}', outside letters, digits, '.', '_' and '-'"
                ),
                "rename the segment (parameters are written {camelCase})".into(),
            ));
        }
    }
    None
}

/// `org_id`, `org-id`, `OrgId` → `orgId`; anything else but letters and digits dropped.
fn camel_case(name: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in name.chars() {
        if !c.is_ascii_alphanumeric() {
            upper = !out.is_empty();
        } else if out.is_empty() {
            out.push(c.to_ascii_lowercase());
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    if out.is_empty() {
        "name".into()
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    #[test]
    fn valid_paths() {
        for p in [
            "/profiles/me",
            "/orgs/{orgId}/members",
            "/a.b/c_d/e-f/{x1}",
            "/v1/{userId}/items/{itemId}",
        ] {
            assert_eq!(path_problem(p), None, "{p}");
        }
    }

    #[test]
    fn path_rules_name_the_problem_and_the_fix() {
        let p = |s: &str| path_problem(s).map(|(m, f)| format!("{m} | {f}"));
        assert_eq!(
            p("orgs").unwrap(),
            "does not start with / | write \"/orgs\""
        );
        assert_eq!(
            p("/").unwrap(),
            "has no segment | route a resource path such as \"/profiles/me\""
        );
        assert_eq!(
            p("/orgs/").unwrap(),
            "ends with / | write \"/orgs\": API Gateway treats a trailing slash as another path"
        );
        assert_eq!(
            p("/orgs//x").unwrap(),
            "has an empty segment (//) | remove the doubled /"
        );
        assert_eq!(
            p("/orgs/{org_id}").unwrap(),
            "has parameter {org_id}, which is not {camelCase} | write {orgId}"
        );
        assert_eq!(
            p("/orgs/{OrgId}").unwrap(),
            "has parameter {OrgId}, which is not {camelCase} | write {orgId}"
        );
        assert_eq!(
            p("/orgs/{orgId").unwrap(),
            "has parameter {orgId, which is not {camelCase} | write {orgId}"
        );
        assert_eq!(
            p("/files/{proxy+}").unwrap(),
            "has parameter {proxy+}, which is not {camelCase} | write {proxy}"
        );
        assert_eq!(
            p("/a/{id}/b/{id}").unwrap(),
            "names parameter {id} twice | give each parameter its own name"
        );
        assert_eq!(
            p("/a b").unwrap(),
            "has segment \"a b\" with ' ', outside letters, digits, '.', '_' and '-' | rename \
             the segment (parameters are written {camelCase})"
        );
    }

    #[test]
    fn integrations_name_a_function_or_alias_invoke_arn() {
        let tf = r#"
resource "aws_lambda_function" "a" { count = 1 }
resource "aws_lambda_alias" "live" { function_name = aws_lambda_function.a[0].function_name }
"#;
        let files = [TfFile::from_text(Path::new("main.tf"), tf.into()).unwrap()];
        let target = |src: &str| {
            integration_target(&hcl_edit::parser::parse_expr(src).unwrap(), &files)
                .map_err(|(message, _)| message)
        };
        assert_eq!(
            target("aws_lambda_function.a[0].invoke_arn"),
            Ok(Some("a".into()))
        );
        assert_eq!(
            target("aws_lambda_alias.live.invoke_arn"),
            Ok(Some("a".into()))
        );
        assert_eq!(
            target("aws_lambda_function.a.arn"),
            Err(
                "has integration aws_lambda_function.a.arn; API Gateway needs the invoke ARN"
                    .into()
            )
        );
        assert_eq!(
            target("aws_lambda_alias.dead.invoke_arn"),
            Err(
                "has integration aws_lambda_alias.dead.invoke_arn, but the module defines no \
                 aws_lambda_alias.dead"
                    .into()
            )
        );
        assert_eq!(
            target("\"arn:aws:apigateway:x\""),
            Err("has an integration that is not a resource's invoke_arn".into())
        );
        assert_eq!(
            target("module.x.invoke_arn"),
            Err(
                "has integration module.x.invoke_arn, not a Lambda function's or alias's \
                 invoke_arn"
                    .into()
            )
        );
    }

    #[test]
    fn camel_case_suggestions() {
        assert_eq!(camel_case("org_id"), "orgId");
        assert_eq!(camel_case("org-email-id"), "orgEmailId");
        assert_eq!(camel_case("_x"), "x");
        assert_eq!(camel_case("+"), "name");
    }
}
