//! Reading the APIs' XML answers: an owned tree of elements with their text, addressed by
//! local names (namespaces dropped: both APIs use one default namespace per answer).

use std::fmt;

/// An element: its local name, its text (the text directly inside it) and its children.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    pub name: String,
    pub text: String,
    pub children: Vec<Element>,
}

/// The document is not well-formed XML.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed XML: {0}")]
pub struct XmlError(String);

impl Element {
    /// Parses a document into its root element.
    pub fn parse(text: &str) -> Result<Element, XmlError> {
        let doc = roxmltree::Document::parse(text).map_err(|e| XmlError(e.to_string()))?;
        Ok(from_node(doc.root_element()))
    }

    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The element reached by following children named `path`, in order.
    pub fn at(&self, path: &[&str]) -> Option<&Element> {
        path.iter().try_fold(self, |e, name| e.child(name))
    }

    /// The text of the element at `path`.
    pub fn text_at(&self, path: &[&str]) -> Option<&str> {
        self.at(path).map(|e| e.text.as_str())
    }

    /// The text of the child `name`.
    pub fn text_of(&self, name: &str) -> Option<&str> {
        self.child(name).map(|e| e.text.as_str())
    }

    /// The first element named `name` below this one (depth first, this one excluded).
    pub fn find(&self, name: &str) -> Option<&Element> {
        self.children.iter().find_map(|c| {
            if c.name == name {
                Some(c)
            } else {
                c.find(name)
            }
        })
    }

    /// The entries of the list at `path`: the `item` (EC2) or `member` (ELBv2) children of
    /// the element there; none when it is absent.
    pub fn list(&self, path: &[&str]) -> Vec<&Element> {
        self.at(path)
            .map(|list| {
                list.children
                    .iter()
                    .filter(|c| c.name == "item" || c.name == "member")
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn from_node(node: roxmltree::Node<'_, '_>) -> Element {
    let mut element = Element {
        name: node.tag_name().name().to_owned(),
        ..Element::default()
    };
    for child in node.children() {
        if child.is_element() {
            element.children.push(from_node(child));
        } else if child.is_text() {
            element.text.push_str(child.text().unwrap_or_default());
        }
    }
    // Indentation between child elements is not content.
    if !element.children.is_empty() && element.text.trim().is_empty() {
        element.text.clear();
    }
    element
}

impl fmt::Display for Element {
    /// Compact XML again (text escaped), for messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{}>", self.name)?;
        let mut escaped = String::new();
        for c in self.text.chars() {
            match c {
                '&' => escaped.push_str("&amp;"),
                '<' => escaped.push_str("&lt;"),
                '>' => escaped.push_str("&gt;"),
                c => escaped.push(c),
            }
        }
        f.write_str(&escaped)?;
        for child in &self.children {
            child.fmt(f)?;
        }
        write!(f, "</{}>", self.name)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const DESCRIBE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeVpcEndpointsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
    <requestId>7a62c49f</requestId>
    <vpcEndpointSet>
        <item>
            <vpcEndpointId>vpce-1</vpcEndpointId>
            <state>available</state>
            <networkInterfaceIdSet><item>eni-1</item><item>eni-2</item></networkInterfaceIdSet>
            <tagSet/>
        </item>
        <item><vpcEndpointId>vpce-2</vpcEndpointId><state>pendingAcceptance</state></item>
    </vpcEndpointSet>
</DescribeVpcEndpointsResponse>"#;

    #[test]
    fn lists_and_paths() {
        let root = Element::parse(DESCRIBE).unwrap();
        assert_eq!(root.name, "DescribeVpcEndpointsResponse");
        assert_eq!(root.text, "");
        assert_eq!(root.text_of("requestId"), Some("7a62c49f"));
        let items = root.list(&["vpcEndpointSet"]);
        let states: Vec<_> = items.iter().map(|i| i.text_of("state")).collect();
        assert_eq!(states, [Some("available"), Some("pendingAcceptance")]);
        let enis: Vec<_> = items[0]
            .list(&["networkInterfaceIdSet"])
            .iter()
            .map(|e| e.text.as_str())
            .collect();
        assert_eq!(enis, ["eni-1", "eni-2"]);
        assert!(items[0].list(&["tagSet"]).is_empty());
        assert!(items[1].list(&["networkInterfaceIdSet"]).is_empty());
        assert_eq!(
            root.find("vpcEndpointId").map(|e| e.text.as_str()),
            Some("vpce-1")
        );
        assert_eq!(root.at(&["vpcEndpointSet", "nope"]), None);
    }

    #[test]
    fn elb_members_and_escapes() {
        let root = Element::parse(
            "<DescribeTargetHealthResponse><DescribeTargetHealthResult>\
             <TargetHealthDescriptions><member><Target><Id>i-1</Id></Target>\
             <TargetHealth><State>healthy</State></TargetHealth></member>\
             <member><Target><Id>i-2</Id></Target><TargetHealth><State>initial</State>\
             <Description>a &lt;b&gt; &amp; &#x41;&quot;</Description></TargetHealth></member>\
             </TargetHealthDescriptions></DescribeTargetHealthResult></DescribeTargetHealthResponse>",
        )
        .unwrap();
        let members = root.list(&["DescribeTargetHealthResult", "TargetHealthDescriptions"]);
        assert_eq!(members.len(), 2);
        assert_eq!(members[0].text_at(&["Target", "Id"]), Some("i-1"));
        assert_eq!(
            members[1].text_at(&["TargetHealth", "State"]),
            Some("initial")
        );
        assert_eq!(
            members[1].text_at(&["TargetHealth", "Description"]),
            Some("a <b> & A\"")
        );
    }

    #[test]
    fn malformed_documents_are_errors() {
        for bad in [
            "",
            "<a>",
            "<a></b>",
            "text",
            "<a><b></a>",
            "<?xml version=\"1.0\"?>",
        ] {
            assert!(Element::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn display_round_trips() {
        let root = Element::parse("<a><b>x &amp; y</b><c/></a>").unwrap();
        assert_eq!(root.to_string(), "<a><b>x &amp; y</b><c></c></a>");
        assert_eq!(Element::parse(&root.to_string()).unwrap(), root);
    }
}
