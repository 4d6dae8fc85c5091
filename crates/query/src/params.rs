//! Decoded Query-protocol parameters.
//!
//! Both services send flat `key=value` pairs; structure is encoded in the key:
//! EC2 flattens lists as `Name.1`, `Name.2` and structures as `Name.1.Member`,
//! ELBv2 adds a `.member.` segment (`Name.member.1`). [`Params`] keeps the flat
//! map and offers accessors that rebuild lists and structures on demand, so
//! callers never parse keys themselves.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::ops::Bound;

use percent_encoding::percent_decode;

/// Decoded Query-protocol parameters (EC2 `Name.N`, ELBv2 `Name.member.N`).
///
/// Keys are unique; the map is ordered so iteration and error reporting are
/// deterministic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    map: BTreeMap<String, String>,
}

/// A request body or query string that cannot be decoded as a form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    /// A name or value is not valid UTF-8 once percent-decoded.
    #[error("parameter {position} of the form is not valid UTF-8 after percent-decoding")]
    InvalidUtf8 {
        /// 1-based position of the offending `name=value` pair.
        position: usize,
    },
    /// A `%` not followed by two hexadecimal digits.
    #[error("parameter {position} of the form has a malformed percent-escape")]
    BadEscape {
        /// 1-based position of the offending `name=value` pair.
        position: usize,
    },
    /// A pair such as `=value` has no name.
    #[error("parameter {position} of the form has an empty name")]
    EmptyName {
        /// 1-based position of the offending `name=value` pair.
        position: usize,
    },
}

/// A parameter that is missing or unacceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    /// A required parameter is absent (or empty).
    #[error("The request must contain the parameter {0}")]
    Missing(String),
    /// A parameter is present but its value is not acceptable.
    #[error("Invalid value '{value}' for {name}: {reason}")]
    Invalid {
        /// The full parameter key, e.g. `SubnetId.x`.
        name: String,
        /// The value as received.
        value: String,
        /// Why it was rejected.
        reason: String,
    },
}

impl ParamError {
    fn invalid(name: &str, value: &str, reason: impl Into<String>) -> Self {
        ParamError::Invalid {
            name: name.to_owned(),
            value: value.to_owned(),
            reason: reason.into(),
        }
    }
}

impl Params {
    /// Decode an application/x-www-form-urlencoded body (or URL query string).
    /// Duplicate keys: first wins.
    ///
    /// `+` decodes to a space and `%XX` to the byte `XX`; a `%` not followed by
    /// two hex digits is a malformed query string, as AWS treats it. Empty pairs (`a=1&&b=2`,
    /// a trailing `&`) are skipped and a pair without `=` has an empty value.
    pub fn parse_form(body: &[u8]) -> Result<Params, FormError> {
        let mut map = BTreeMap::new();
        let pairs = body.split(|&b| b == b'&').filter(|pair| !pair.is_empty());
        for (i, pair) in pairs.enumerate() {
            let position = i + 1;
            let (raw_key, raw_value) = match pair.iter().position(|&b| b == b'=') {
                Some(eq) => (&pair[..eq], &pair[eq + 1..]),
                None => (pair, &[][..]),
            };
            let key = decode_component(raw_key, position)?;
            let value = decode_component(raw_value, position)?;
            if key.is_empty() {
                return Err(FormError::EmptyName { position });
            }
            map.entry(key).or_insert(value);
        }
        Ok(Params { map })
    }

    /// Build from already-decoded pairs. Duplicate keys: first wins, as in
    /// [`Params::parse_form`].
    pub fn from_pairs<I, K, V>(pairs: I) -> Params
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let mut map = BTreeMap::new();
        for (key, value) in pairs {
            map.entry(key.into()).or_insert_with(|| value.into());
        }
        Params { map }
    }

    /// Adds the other's pairs where this has no such key (query string + body).
    pub fn merge(&mut self, other: Params) {
        for (key, value) in other.map {
            if let Entry::Vacant(slot) = self.map.entry(key) {
                slot.insert(value);
            }
        }
    }

    /// The value of `name`, if present (possibly empty).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.map.get(name).map(String::as_str)
    }

    /// Whether `name` is present (possibly with an empty value).
    pub fn contains(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    /// Whether there are no parameters at all.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Number of parameters.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// All keys, in byte order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.map.keys().map(String::as_str)
    }

    /// All pairs, in byte order of the keys.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.map.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Absent or empty → [`ParamError::Missing`].
    pub fn required(&self, name: &str) -> Result<&str, ParamError> {
        match self.get(name) {
            Some(value) if !value.is_empty() => Ok(value),
            _ => Err(ParamError::Missing(name.to_owned())),
        }
    }

    /// "true"/"false" (case-insensitive); anything else → Invalid.
    pub fn bool(&self, name: &str) -> Result<Option<bool>, ParamError> {
        let Some(value) = self.get(name) else {
            return Ok(None);
        };
        if value.eq_ignore_ascii_case("true") {
            Ok(Some(true))
        } else if value.eq_ignore_ascii_case("false") {
            Ok(Some(false))
        } else {
            Err(ParamError::invalid(name, value, "expected true or false"))
        }
    }

    /// Decimal integer (optional leading '-'); anything else → Invalid.
    pub fn int(&self, name: &str) -> Result<Option<i64>, ParamError> {
        let Some(value) = self.get(name) else {
            return Ok(None);
        };
        let digits = value.strip_prefix('-').unwrap_or(value);
        // `i64::from_str` would also accept a leading '+', which AWS does not.
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ParamError::invalid(name, value, "expected an integer"));
        }
        value
            .parse::<i64>()
            .map(Some)
            .map_err(|_| ParamError::invalid(name, value, "integer out of range"))
    }

    /// EC2 flattened list: `Name.1`, `Name.2`, … ordered by numeric index (gaps
    /// allowed; an index that is not a positive integer → Invalid). Only keys
    /// exactly `Name.<digits>` count (not `Name.1.Key`). Leading zeros
    /// (`Name.01`) are Invalid too, so no two keys can claim one slot.
    pub fn list(&self, name: &str) -> Result<Vec<&str>, ParamError> {
        self.scalar_list(name)
    }

    /// ELBv2 list: `Name.member.1`, … ordered by index.
    pub fn member_list(&self, name: &str) -> Result<Vec<&str>, ParamError> {
        self.scalar_list(&member_prefix(name))
    }

    /// EC2 list of structures: every `Name.N.rest` grouped by N (ordered), each
    /// as Params holding `rest` keys. E.g. `Filter.1.Name=a&Filter.1.Value.1=b`
    /// → [Params{Name=a, Value.1=b}].
    ///
    /// A bare `Name.N` (no member after the index) → Invalid, since a structure
    /// was expected.
    pub fn structs(&self, name: &str) -> Result<Vec<Params>, ParamError> {
        self.struct_list(name)
    }

    /// ELBv2 list of structures: `Name.member.N.rest`.
    pub fn member_structs(&self, name: &str) -> Result<Vec<Params>, ParamError> {
        self.struct_list(&member_prefix(name))
    }

    /// A nested structure: every `Name.rest` as Params{rest}. E.g.
    /// `EnableDnsHostnames.Value=true` → nested("EnableDnsHostnames").get("Value").
    pub fn nested(&self, name: &str) -> Params {
        let map = self
            .under(name)
            .filter(|(rest, _, _)| !rest.is_empty())
            .map(|(rest, _, value)| (rest.to_owned(), value.to_owned()))
            .collect();
        Params { map }
    }

    /// Every `(rest, full key, value)` whose key is `prefix.rest`.
    fn under<'a>(&'a self, prefix: &str) -> impl Iterator<Item = (&'a str, &'a str, &'a str)> {
        let start = format!("{prefix}.");
        let len = start.len();
        self.map
            .range::<str, _>((Bound::Included(start.as_str()), Bound::Unbounded))
            .take_while(move |(key, _)| key.starts_with(start.as_str()))
            .map(move |(key, value)| (&key[len..], key.as_str(), value.as_str()))
    }

    fn scalar_list(&self, prefix: &str) -> Result<Vec<&str>, ParamError> {
        let mut items = BTreeMap::new();
        for (rest, key, value) in self.under(prefix) {
            if rest.contains('.') {
                continue;
            }
            let index = parse_index(rest).ok_or_else(|| invalid_index(key, value, rest))?;
            items.insert(index, value);
        }
        Ok(items.into_values().collect())
    }

    fn struct_list(&self, prefix: &str) -> Result<Vec<Params>, ParamError> {
        let mut groups: BTreeMap<u32, Params> = BTreeMap::new();
        for (rest, key, value) in self.under(prefix) {
            let (segment, member) = rest.split_once('.').unwrap_or((rest, ""));
            let index = parse_index(segment).ok_or_else(|| invalid_index(key, value, segment))?;
            if member.is_empty() {
                return Err(ParamError::invalid(
                    key,
                    value,
                    "expected a structure member after the list index",
                ));
            }
            groups
                .entry(index)
                .or_default()
                .map
                .insert(member.to_owned(), value.to_owned());
        }
        Ok(groups.into_values().collect())
    }
}

impl<'a> IntoIterator for &'a Params {
    type Item = (&'a String, &'a String);
    type IntoIter = std::collections::btree_map::Iter<'a, String, String>;

    fn into_iter(self) -> Self::IntoIter {
        self.map.iter()
    }
}

fn member_prefix(name: &str) -> String {
    format!("{name}.member")
}

/// A list index: a positive decimal without leading zeros, so that `Name.1`
/// and `Name.01` cannot both claim the same slot.
fn parse_index(segment: &str) -> Option<u32> {
    let canonical = !segment.is_empty()
        && !segment.starts_with('0')
        && segment.bytes().all(|b| b.is_ascii_digit());
    if canonical {
        segment.parse().ok()
    } else {
        None
    }
}

fn invalid_index(key: &str, value: &str, segment: &str) -> ParamError {
    ParamError::invalid(
        key,
        value,
        format!("list index '{segment}' is not a positive integer"),
    )
}

/// `+` → space, then percent-decoding; `None` when the result is not UTF-8.
fn decode_component(raw: &[u8], position: usize) -> Result<String, FormError> {
    let well_escaped = raw.iter().enumerate().all(|(i, &b)| {
        b != b'%'
            || (raw.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && raw.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
    });
    if !well_escaped {
        return Err(FormError::BadEscape { position });
    }
    let spaced: Cow<'_, [u8]> = if raw.contains(&b'+') {
        Cow::Owned(
            raw.iter()
                .map(|&b| if b == b'+' { b' ' } else { b })
                .collect(),
        )
    } else {
        Cow::Borrowed(raw)
    };
    let decoded: Cow<'_, [u8]> = percent_decode(&spaced).into();
    String::from_utf8(decoded.into_owned()).map_err(|_| FormError::InvalidUtf8 { position })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn form(s: &str) -> Params {
        match Params::parse_form(s.as_bytes()) {
            Ok(p) => p,
            Err(e) => panic!("{s:?} did not parse: {e}"),
        }
    }

    fn invalid_name(err: ParamError) -> String {
        match err {
            ParamError::Invalid { name, .. } => name,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn parse_form_decodes_percent_and_plus() {
        let p = form("Action=DescribeVpcs&Name=my+lb%20x&Cidr=10.0.0.0%2F16&U=%E1%88%B4");
        assert_eq!(p.get("Action"), Some("DescribeVpcs"));
        assert_eq!(p.get("Name"), Some("my lb x"));
        assert_eq!(p.get("Cidr"), Some("10.0.0.0/16"));
        assert_eq!(p.get("U"), Some("ሴ"));
    }

    #[test]
    fn parse_form_plus_escaped_is_literal_plus() {
        let p = form("Key%2BName=a%2Bb");
        assert_eq!(p.get("Key+Name"), Some("a+b"));
    }

    #[test]
    fn parse_form_keys_are_decoded_too() {
        let p = form("Filter%2E1%2EName=vpc-id");
        assert_eq!(p.get("Filter.1.Name"), Some("vpc-id"));
    }

    #[test]
    fn parse_form_duplicate_keys_first_wins() {
        let p = form("A=1&A=2&B=x&B=");
        assert_eq!(p.get("A"), Some("1"));
        assert_eq!(p.get("B"), Some("x"));
        assert_eq!(p.len(), 2);
    }

    #[test]
    fn parse_form_edge_shapes() {
        let p = form("&&A&B=&C==x&&");
        assert_eq!(p.get("A"), Some(""));
        assert_eq!(p.get("B"), Some(""));
        // Only the first '=' separates name from value.
        assert_eq!(p.get("C"), Some("=x"));
        assert_eq!(p.len(), 3);
        assert!(form("").is_empty());
        assert!(form("&").is_empty());
    }

    #[test]
    fn parse_form_rejects_malformed_escapes() {
        for (body, position) in [("A=100%", 1), ("A=1&B=%zz", 2), ("C=%4", 1), ("%G1=x", 1)] {
            assert_eq!(
                Params::parse_form(body.as_bytes()),
                Err(FormError::BadEscape { position }),
                "{body}"
            );
        }
        assert_eq!(form("A=%25zz").get("A"), Some("%zz"));
    }

    #[test]
    fn parse_form_rejects_invalid_utf8() {
        assert_eq!(
            Params::parse_form(b"A=1&B=%FF"),
            Err(FormError::InvalidUtf8 { position: 2 })
        );
        assert_eq!(
            Params::parse_form(b"A=\xC3"),
            Err(FormError::InvalidUtf8 { position: 1 })
        );
        assert_eq!(
            Params::parse_form(b"%C3%28=1"),
            Err(FormError::InvalidUtf8 { position: 1 })
        );
    }

    #[test]
    fn parse_form_rejects_empty_name() {
        assert_eq!(
            Params::parse_form(b"A=1&=x"),
            Err(FormError::EmptyName { position: 2 })
        );
        assert_eq!(
            Params::parse_form(b"="),
            Err(FormError::EmptyName { position: 1 })
        );
    }

    #[test]
    fn form_error_messages() {
        assert_eq!(
            FormError::InvalidUtf8 { position: 3 }.to_string(),
            "parameter 3 of the form is not valid UTF-8 after percent-decoding"
        );
        assert_eq!(
            FormError::EmptyName { position: 1 }.to_string(),
            "parameter 1 of the form has an empty name"
        );
    }

    #[test]
    fn from_pairs_first_wins() {
        let p = Params::from_pairs([("A", "1"), ("A", "2"), ("B", "3")]);
        assert_eq!(p.get("A"), Some("1"));
        assert_eq!(p.get("B"), Some("3"));
        let owned = Params::from_pairs(vec![(String::from("X"), String::from("y"))]);
        assert_eq!(owned.get("X"), Some("y"));
    }

    #[test]
    fn merge_keeps_existing_keys() {
        let mut query = form("Action=DescribeVpcs&Version=2016-11-15");
        let body = form("Action=DeleteVpc&VpcId=vpc-1");
        query.merge(body);
        assert_eq!(query.get("Action"), Some("DescribeVpcs"));
        assert_eq!(query.get("VpcId"), Some("vpc-1"));
        assert_eq!(query.len(), 3);

        let mut empty = Params::default();
        empty.merge(Params::from_pairs([("A", "1")]));
        assert_eq!(empty, Params::from_pairs([("A", "1")]));
    }

    #[test]
    fn get_contains_is_empty_keys() {
        let p = form("B=2&A=&C.1=x");
        assert_eq!(p.get("A"), Some(""));
        assert_eq!(p.get("Z"), None);
        assert!(p.contains("A"));
        assert!(!p.contains("a"));
        assert!(!p.is_empty());
        assert!(Params::default().is_empty());
        assert_eq!(p.keys().collect::<Vec<_>>(), ["A", "B", "C.1"]);
        assert_eq!(
            p.iter().collect::<Vec<_>>(),
            [("A", ""), ("B", "2"), ("C.1", "x")]
        );
        assert_eq!((&p).into_iter().count(), 3);
    }

    #[test]
    fn required_rejects_absent_and_empty() {
        let p = form("VpcId=vpc-1&Empty=");
        assert_eq!(p.required("VpcId"), Ok("vpc-1"));
        assert_eq!(
            p.required("Empty"),
            Err(ParamError::Missing("Empty".into()))
        );
        let err = p.required("ServiceName");
        assert_eq!(err, Err(ParamError::Missing("ServiceName".into())));
        assert_eq!(
            ParamError::Missing("ServiceName".into()).to_string(),
            "The request must contain the parameter ServiceName"
        );
    }

    #[test]
    fn bool_values() {
        let p = form("A=true&B=FALSE&C=True&D=yes&E=&F=1");
        assert_eq!(p.bool("A"), Ok(Some(true)));
        assert_eq!(p.bool("B"), Ok(Some(false)));
        assert_eq!(p.bool("C"), Ok(Some(true)));
        assert_eq!(p.bool("Absent"), Ok(None));
        for name in ["D", "E", "F"] {
            assert_eq!(invalid_name(p.bool(name).unwrap_err()), name);
        }
        assert_eq!(
            p.bool("D").unwrap_err().to_string(),
            "Invalid value 'yes' for D: expected true or false"
        );
    }

    #[test]
    fn int_values() {
        let p = form(
            "A=42&B=-7&C=0&D=%2B5&E=&F=1.5&G=-&H=9223372036854775807&I=9223372036854775808&J=-9223372036854775808&K=%201",
        );
        assert_eq!(p.int("A"), Ok(Some(42)));
        assert_eq!(p.int("B"), Ok(Some(-7)));
        assert_eq!(p.int("C"), Ok(Some(0)));
        assert_eq!(p.int("H"), Ok(Some(i64::MAX)));
        assert_eq!(p.int("J"), Ok(Some(i64::MIN)));
        assert_eq!(p.int("Absent"), Ok(None));
        for name in ["D", "E", "F", "G", "I", "K"] {
            assert_eq!(invalid_name(p.int(name).unwrap_err()), name, "{name}");
        }
    }

    #[test]
    fn list_orders_by_numeric_index() {
        let p = form("SubnetId.10=j&SubnetId.2=b&SubnetId.1=a&SubnetId.3=c");
        assert_eq!(p.list("SubnetId"), Ok(vec!["a", "b", "c", "j"]));
    }

    #[test]
    fn list_allows_gaps_and_ignores_other_keys() {
        let p = form(
            "SubnetId.5=e&SubnetId.2=b&SubnetId.1.Key=x&SubnetIds.1=no&SubnetId=bare&Subnet.1=no",
        );
        assert_eq!(p.list("SubnetId"), Ok(vec!["b", "e"]));
        assert_eq!(p.list("Absent"), Ok(vec![]));
    }

    #[test]
    fn list_rejects_bad_indexes() {
        for bad in [
            "SubnetId.0",
            "SubnetId.x",
            "SubnetId.01",
            "SubnetId.-1",
            "SubnetId.",
        ] {
            let p = Params::from_pairs([(bad, "v")]);
            let err = p.list("SubnetId").unwrap_err();
            assert_eq!(invalid_name(err), bad);
        }
        let huge = Params::from_pairs([("SubnetId.99999999999", "v")]);
        assert!(huge.list("SubnetId").is_err());
        let p = Params::from_pairs([("SubnetId.x", "v")]);
        assert_eq!(
            p.list("SubnetId").unwrap_err().to_string(),
            "Invalid value 'v' for SubnetId.x: list index 'x' is not a positive integer"
        );
    }

    #[test]
    fn member_list_orders_by_index() {
        let p = form(
            "Subnets.member.2=subnet-b&Subnets.member.10=subnet-j&Subnets.member.1=subnet-a&Subnets.1=ec2",
        );
        assert_eq!(
            p.member_list("Subnets"),
            Ok(vec!["subnet-a", "subnet-b", "subnet-j"])
        );
        // botocore sends an empty list as `Name=`; that is no member at all.
        assert_eq!(form("Subnets=").member_list("Subnets"), Ok(vec![]));
        let bad = form("Subnets.member.0=x");
        assert_eq!(
            invalid_name(bad.member_list("Subnets").unwrap_err()),
            "Subnets.member.0"
        );
    }

    #[test]
    fn structs_group_by_index() {
        let p = form(
            "Filter.1.Name=vpc-id&Filter.1.Value.1=vpc-1&Filter.1.Value.2=vpc-2\
             &Filter.10.Name=tag:k&Filter.2.Name=state&Filter.2.Value.1=available",
        );
        let filters = p.structs("Filter").unwrap();
        assert_eq!(filters.len(), 3);
        assert_eq!(filters[0].get("Name"), Some("vpc-id"));
        assert_eq!(filters[0].list("Value"), Ok(vec!["vpc-1", "vpc-2"]));
        assert_eq!(filters[1].get("Name"), Some("state"));
        assert_eq!(filters[2].get("Name"), Some("tag:k"));
        assert_eq!(filters[2].list("Value"), Ok(vec![]));
        assert_eq!(
            form("Filter.1.Name=a&Filter.1.Value.1=b").structs("Filter"),
            Ok(vec![Params::from_pairs([("Name", "a"), ("Value.1", "b")])])
        );
        assert_eq!(p.structs("Absent"), Ok(vec![]));
    }

    #[test]
    fn structs_nested_two_levels() {
        let p = form(
            "IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=443\
             &IpPermissions.1.IpRanges.1.CidrIp=10.0.0.0%2F8\
             &IpPermissions.1.IpRanges.2.CidrIp=192.168.0.0%2F16\
             &IpPermissions.1.IpRanges.2.Description=office+net\
             &IpPermissions.2.IpProtocol=-1",
        );
        let perms = p.structs("IpPermissions").unwrap();
        assert_eq!(perms.len(), 2);
        assert_eq!(perms[0].get("IpProtocol"), Some("tcp"));
        assert_eq!(perms[0].int("FromPort"), Ok(Some(443)));
        let ranges = perms[0].structs("IpRanges").unwrap();
        assert_eq!(ranges.len(), 2);
        assert_eq!(ranges[0].get("CidrIp"), Some("10.0.0.0/8"));
        assert_eq!(ranges[1].get("CidrIp"), Some("192.168.0.0/16"));
        assert_eq!(ranges[1].get("Description"), Some("office net"));
        assert_eq!(perms[1].get("IpProtocol"), Some("-1"));
        assert_eq!(perms[1].structs("IpRanges"), Ok(vec![]));
    }

    #[test]
    fn structs_tag_specifications() {
        let p = form(
            "TagSpecification.1.ResourceType=vpc-endpoint&TagSpecification.1.Tag.1.Key=k\
             &TagSpecification.1.Tag.1.Value=v&TagSpecification.1.Tag.2.Key=k2",
        );
        let specs = p.structs("TagSpecification").unwrap();
        assert_eq!(specs.len(), 1);
        assert_eq!(specs[0].required("ResourceType"), Ok("vpc-endpoint"));
        let tags = specs[0].structs("Tag").unwrap();
        assert_eq!(tags.len(), 2);
        assert_eq!(tags[0].get("Key"), Some("k"));
        assert_eq!(tags[0].get("Value"), Some("v"));
        assert_eq!(tags[1].get("Value"), None);
    }

    #[test]
    fn structs_reject_bad_indexes_and_bare_items() {
        for bad in [
            "Filter.0.Name",
            "Filter.a.Name",
            "Filter.01.Name",
            "Filter..Name",
        ] {
            let p = Params::from_pairs([(bad, "v")]);
            assert_eq!(invalid_name(p.structs("Filter").unwrap_err()), bad);
        }
        for bare in ["Filter.1", "Filter.1."] {
            let p = Params::from_pairs([(bare, "v")]);
            assert_eq!(invalid_name(p.structs("Filter").unwrap_err()), bare);
        }
    }

    #[test]
    fn member_structs_elb_forms() {
        let p = form(
            "Targets.member.2.Id=i-2&Targets.member.1.Id=i-1&Targets.member.1.Port=80\
             &Attributes.member.1.Key=deletion_protection.enabled&Attributes.member.1.Value=true\
             &DefaultActions.member.1.Type=forward&DefaultActions.member.1.TargetGroupArn=arn%3Aaws%3Atg\
             &Tags.member.1.Key=a&Tags.member.1.Values.member.1=x&Tags.member.1.Values.member.2=y",
        );
        let targets = p.member_structs("Targets").unwrap();
        assert_eq!(targets.len(), 2);
        assert_eq!(targets[0].get("Id"), Some("i-1"));
        assert_eq!(targets[0].int("Port"), Ok(Some(80)));
        assert_eq!(targets[1].get("Id"), Some("i-2"));

        let attrs = p.member_structs("Attributes").unwrap();
        assert_eq!(attrs[0].get("Key"), Some("deletion_protection.enabled"));
        assert_eq!(attrs[0].bool("Value"), Ok(Some(true)));

        let actions = p.member_structs("DefaultActions").unwrap();
        assert_eq!(actions[0].get("TargetGroupArn"), Some("arn:aws:tg"));

        let tags = p.member_structs("Tags").unwrap();
        assert_eq!(tags[0].member_list("Values"), Ok(vec!["x", "y"]));

        let bad = form("Targets.member.1=i-1");
        assert_eq!(
            invalid_name(bad.member_structs("Targets").unwrap_err()),
            "Targets.member.1"
        );
    }

    #[test]
    fn nested_structure() {
        let p = form(
            "EnableDnsHostnames.Value=true&EnableDnsHostnamesX.Value=no&EnableDnsHostnames=bare\
             &EnableDnsHostnames.=empty&Outer.Inner.Leaf=x",
        );
        let nested = p.nested("EnableDnsHostnames");
        assert_eq!(nested.get("Value"), Some("true"));
        assert_eq!(nested.bool("Value"), Ok(Some(true)));
        assert_eq!(nested.len(), 1);
        assert_eq!(p.nested("Outer").nested("Inner").get("Leaf"), Some("x"));
        assert!(p.nested("Absent").is_empty());
    }

    #[test]
    fn prefix_names_with_special_characters() {
        // A range scan must not leak keys that merely sort after the prefix.
        let p = form("A.1=x&A/1=y&A0=z&A.2=w");
        assert_eq!(p.list("A"), Ok(vec!["x", "w"]));
    }
}
