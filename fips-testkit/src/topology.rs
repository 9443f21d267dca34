//! The test topologies, defined once in `testdata/identity.json` and read
//! here (and by the scripts, with jq): who links to whom, and who dials.

use crate::keys::vectors;

/// A set of links between named nodes; the first of each pair dials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topology {
    pub links: Vec<(&'static str, &'static str)>,
}

impl Topology {
    /// The 5-node static mesh (links a-d a-e c-d b-c d-e c-e).
    pub fn static_mesh() -> Topology {
        Topology::named("static_mesh_links")
    }

    /// The 3-node chain a - b - c: a and c dial b, the hub.
    pub fn chain() -> Topology {
        Topology::named("chain_links")
    }

    fn named(field: &str) -> Topology {
        let links = vectors()[field]
            .as_array()
            .unwrap_or_else(|| panic!("testdata/identity.json has no {field}"))
            .iter()
            .map(|pair| {
                let end = |i: usize| -> &'static str {
                    let s = pair[i].as_str().expect("a link names two nodes");
                    crate::keys::key(s).name
                };
                (end(0), end(1))
            })
            .collect();
        Topology { links }
    }

    /// Every node of a link, sorted by name.
    pub fn nodes(&self) -> Vec<&'static str> {
        let mut all: Vec<_> = self.links.iter().flat_map(|(a, b)| [*a, *b]).collect();
        all.sort_unstable();
        all.dedup();
        all
    }

    /// The nodes `name` dials (the second end of each link it starts).
    pub fn dials(&self, name: &str) -> Vec<&'static str> {
        self.links
            .iter()
            .filter(|(a, _)| *a == name)
            .map(|(_, b)| *b)
            .collect()
    }

    /// How many links `name` has.
    pub fn degree(&self, name: &str) -> usize {
        self.links
            .iter()
            .filter(|(a, b)| *a == name || *b == name)
            .count()
    }

    /// The pairs that are not linked (neither dials the other).
    pub fn unlinked(&self) -> Vec<(&'static str, &'static str)> {
        let nodes = self.nodes();
        let mut out = Vec::new();
        for (i, a) in nodes.iter().enumerate() {
            for b in &nodes[i + 1..] {
                let linked = self.links.iter().any(|l| *l == (*a, *b) || *l == (*b, *a));
                if !linked {
                    out.push((*a, *b));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_static_mesh_has_six_links_and_c_d_e_have_three_each() {
        let t = Topology::static_mesh();
        assert_eq!(t.links.len(), 6);
        assert_eq!(t.nodes(), ["a", "b", "c", "d", "e"]);
        assert_eq!(
            ["a", "b", "c", "d", "e"].map(|n| t.degree(n)),
            [2, 1, 3, 3, 3]
        );
        assert_eq!(t.dials("a"), ["d", "e"]);
        assert_eq!(
            t.unlinked(),
            [("a", "b"), ("a", "c"), ("b", "d"), ("b", "e")]
        );
    }

    #[test]
    fn the_chain_has_b_in_the_middle() {
        let t = Topology::chain();
        assert_eq!(t.nodes(), ["a", "b", "c"]);
        assert_eq!(t.degree("b"), 2);
        assert!(t.dials("b").is_empty());
    }
}
