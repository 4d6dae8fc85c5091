//! Pieces every use case shares: filters, pagination, client-token idempotency.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{AwsError, Context, Db};
use model::{Resource, Tag};

/// One `Filter.N` of an EC2 describe call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub name: String,
    pub values: Vec<String>,
}

/// AWS filter-value matching: `*` any run, `?` any one character, case-sensitive.
pub fn wildcard_match(pattern: &str, value: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let v: Vec<char> = value.chars().collect();
    let (mut pi, mut vi) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while vi < v.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == v[vi]) {
            pi += 1;
            vi += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = vi;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            vi = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// The values of a tag filter (`tag:<key>`, `tag-key`, `tag-value`) for `tags`; `None` if
/// `name` is not a tag filter.
pub fn tag_filter_values(tags: &[Tag], name: &str) -> Option<Vec<String>> {
    if let Some(key) = name.strip_prefix("tag:") {
        return Some(
            tags.iter()
                .filter(|t| t.key == key)
                .map(|t| t.value.clone())
                .collect(),
        );
    }
    match name {
        "tag-key" => Some(tags.iter().map(|t| t.key.clone()).collect()),
        "tag-value" => Some(tags.iter().map(|t| t.value.clone()).collect()),
        _ => None,
    }
}

/// Keeps the items that match every filter (a filter matches when any of its values matches
/// any of the item's values for that name). `known` lists the filter names the action
/// supports (`"tag:*"` admits every `tag:<key>`); any other name is `InvalidParameterValue`,
/// even when there is nothing to filter, as on AWS. `field` gives an item's values for a name.
pub fn apply_filters<T>(
    items: Vec<T>,
    filters: &[Filter],
    known: &[&str],
    field: impl Fn(&T, &str) -> Option<Vec<String>>,
) -> Result<Vec<T>, AwsError> {
    for f in filters {
        let ok = known.contains(&f.name.as_str())
            || (f.name.starts_with("tag:") && known.contains(&"tag:*"));
        if !ok {
            return Err(AwsError::invalid_filter(&f.name));
        }
    }
    if filters.is_empty() {
        return Ok(items);
    }
    Ok(items
        .into_iter()
        .filter(|item| {
            filters.iter().all(|f| {
                let have = field(item, &f.name).unwrap_or_default();
                f.values
                    .iter()
                    .any(|want| have.iter().any(|h| wildcard_match(want, h)))
            })
        })
        .collect())
}

/// What a describe call covers: every resource of the caller, or exactly the ones named, each
/// loaded (and checked) by `load`.
pub fn all_or_named<T: Resource>(
    db: &mut Db<'_>,
    ctx: &Context,
    ids: &[String],
    mut load: impl FnMut(&mut Db<'_>, &Context, &str) -> Result<T, AwsError>,
) -> Result<Vec<T>, AwsError> {
    if ids.is_empty() {
        db.list::<T>(Some(&ctx.account))
    } else {
        ids.iter().map(|id| load(db, ctx, id)).collect()
    }
}

/// `MaxResults` / `NextToken` of a describe call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    pub max_results: Option<i64>,
    pub next_token: Option<String>,
}

/// Cuts one page out of `items`; the token names the first item of the next page.
pub fn paginate<T>(
    items: Vec<T>,
    page: &Page,
    key: impl Fn(&T) -> &str,
) -> Result<(Vec<T>, Option<String>), AwsError> {
    let start = match &page.next_token {
        None => 0,
        Some(tok) => {
            let want = hex::decode(tok)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| AwsError::invalid_next_token(tok))?;
            items
                .iter()
                .position(|i| key(i) == want)
                .ok_or_else(|| AwsError::invalid_next_token(tok))?
        }
    };
    let max = page
        .max_results
        .map(|m| usize::try_from(m.max(1)).unwrap_or(usize::MAX))
        .unwrap_or(usize::MAX);
    let mut rest: Vec<T> = items.into_iter().skip(start).collect();
    let next = if rest.len() > max {
        let tail = rest.split_off(max);
        tail.first().map(|t| hex::encode(key(t)))
    } else {
        None
    };
    Ok((rest, next))
}

/// A remembered `ClientToken`: which request it came with and what it created.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientTokenRecord {
    pub id: String,
    pub owner: String,
    pub fingerprint: String,
    pub resource_id: String,
}

impl Resource for ClientTokenRecord {
    const KIND: &'static str = "client-token";
    fn id(&self) -> &str {
        &self.id
    }
    fn owner(&self) -> &str {
        &self.owner
    }
}

/// A stable fingerprint of a request (its parameters without the token), for idempotency.
pub fn fingerprint(request: &impl std::fmt::Debug) -> String {
    hex::encode(Sha256::digest(format!("{request:?}").as_bytes()))
}

fn token_key(ctx: &Context, action: &str, token: &str) -> String {
    format!("{}/{action}/{token}", ctx.account)
}

/// If `token` was used before for `action`: the resource it created (same request), or
/// `IdempotentParameterMismatch` (different request).
pub fn idempotent_lookup(
    db: &mut Db<'_>,
    ctx: &Context,
    action: &str,
    token: Option<&str>,
    fingerprint: &str,
) -> Result<Option<String>, AwsError> {
    let Some(token) = token else { return Ok(None) };
    match db.get::<ClientTokenRecord>(&token_key(ctx, action, token))? {
        None => Ok(None),
        Some(r) if r.fingerprint == fingerprint => Ok(Some(r.resource_id)),
        Some(_) => Err(AwsError::idempotent_mismatch()),
    }
}

/// Remembers that `token` created `resource_id`.
pub fn idempotent_remember(
    db: &mut Db<'_>,
    ctx: &Context,
    action: &str,
    token: Option<&str>,
    fingerprint: &str,
    resource_id: &str,
) -> Result<(), AwsError> {
    let Some(token) = token else { return Ok(()) };
    db.put(&ClientTokenRecord {
        id: token_key(ctx, action, token),
        owner: ctx.account.clone(),
        fingerprint: fingerprint.to_string(),
        resource_id: resource_id.to_string(),
    })
}

/// A per-item failure of a bulk call (`unsuccessful` item).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsuccessful {
    pub resource_id: String,
    pub code: String,
    pub message: String,
}

impl Unsuccessful {
    pub fn new(resource_id: &str, e: AwsError) -> Unsuccessful {
        Unsuccessful {
            resource_id: resource_id.to_string(),
            code: e.code.into_owned(),
            message: e.message,
        }
    }
}

/// The current time, as resources record it.
pub fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("vpc-*", "vpc-123"));
        assert!(wildcard_match("a?c", "abc"));
        assert!(!wildcard_match("a?c", "abbc"));
        assert!(wildcard_match("*b*", "abc"));
        assert!(!wildcard_match("abc", "ABC"));
    }

    #[test]
    fn pages_cover_everything_once() {
        let items: Vec<String> = (0..7).map(|i| format!("id{i}")).collect();
        let mut page = Page {
            max_results: Some(3),
            next_token: None,
        };
        let mut seen = Vec::new();
        loop {
            let (got, next) = paginate(items.clone(), &page, |s| s.as_str()).expect("page");
            assert!(got.len() <= 3);
            seen.extend(got);
            match next {
                Some(t) => page.next_token = Some(t),
                None => break,
            }
        }
        assert_eq!(seen, items);
        let bad = Page {
            max_results: None,
            next_token: Some("zz".into()),
        };
        assert!(paginate(items, &bad, |s| s.as_str()).is_err());
    }

    #[test]
    fn filters_match_any_value_and_reject_unknown_names() {
        let items = vec![("a", "x"), ("b", "y"), ("c", "x")];
        let field = |i: &(&str, &str), n: &str| match n {
            "v" => Some(vec![i.1.to_string()]),
            _ => None,
        };
        let f = [Filter {
            name: "v".into(),
            values: vec!["x".into()],
        }];
        let got = apply_filters(items.clone(), &f, &["v"], field).expect("filter");
        assert_eq!(got.len(), 2);
        let bad = [Filter {
            name: "nope".into(),
            values: vec!["x".into()],
        }];
        assert_eq!(
            apply_filters(Vec::<(&str, &str)>::new(), &bad, &["v"], field)
                .expect_err("unknown")
                .code,
            "InvalidParameterValue"
        );
    }
}
