//! Opposite-relation negatives: a caption rewritten so that its relation is reversed.
//!
//! A spatial relation is replaced by its opposite ("parked behind" -> "parked in front of",
//! "to the left of" -> "to the right of"); any other relation (an action) keeps its words and
//! the subject and object trade places ("a car hits a pedestrian" -> "a pedestrian hits a
//! car"). The negative's own triplet is read again from the new caption by the rules (not the
//! confidence model, which judges wording) and must be the expected inverse; otherwise there
//! is no negative rather than a wrong one.

use crate::svo::{Triplet, extract_rules};

/// Spatial relations and their opposites, both ways (longest phrases first).
const OPPOSITES: &[(&str, &str)] = &[
    ("to the left of", "to the right of"),
    ("on the left of", "on the right of"),
    ("on the left side of", "on the right side of"),
    ("in front of", "behind"),
    ("ahead of", "behind"),
    ("on top of", "underneath"),
    ("away from", "towards"),
    ("far from", "next to"),
    ("out of", "into"),
    ("inside", "outside"),
    ("above", "below"),
    ("over", "under"),
    ("on", "under"),
    ("in", "outside"),
    ("atop", "beneath"),
    ("up", "down"),
    ("onto", "off"),
    ("toward", "away from"),
    ("with", "without"),
    ("near", "far from"),
    ("close to", "far from"),
    ("beside", "far from"),
    ("before", "after"),
];

/// The opposite of a spatial relation phrase's ending, if it has one: (ending, opposite).
fn opposite_ending(rel: &str) -> Option<(&'static str, &'static str)> {
    let lower = rel.to_lowercase();
    let mut best: Option<(&str, &str)> = None;
    for &(a, b) in OPPOSITES {
        for (from, to) in [(a, b), (b, a)] {
            let ends = lower == from || lower.ends_with(&format!(" {from}"));
            if ends && best.is_none_or(|(f, _)| from.len() > f.len()) {
                best = Some((from, to));
            }
        }
    }
    best
}

/// A caption with the opposite relation and its triplet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negative {
    /// The rewritten caption.
    pub caption: String,
    /// Its triplet, extracted from it.
    pub triplet: Triplet,
    /// Whether it was made by swapping subject and object (an action), not by replacing the
    /// relation (a spatial relation).
    pub swapped: bool,
}

/// Characters `start..end` of `s` (character offsets).
fn slice(s: &str, start: usize, end: usize) -> String {
    s.chars().skip(start).take(end - start).collect()
}

/// Replaces character ranges of `s` (sorted, not overlapping) with new texts.
fn replace(s: &str, edits: &[(usize, usize, String)]) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::new();
    let mut at = 0;
    for (start, end, text) in edits {
        out.extend(&chars[at..*start]);
        out.push_str(text);
        at = *end;
    }
    out.extend(&chars[at..]);
    out
}

/// Keeps the caption's capitalisation when a different phrase comes first.
fn recapitalise(original: &str, mut s: String) -> String {
    let upper = original.chars().next().is_some_and(char::is_uppercase);
    if let Some(first) = s.chars().next() {
        let rest: String = s.chars().skip(1).collect();
        s = if upper {
            first.to_uppercase().collect::<String>() + &rest
        } else {
            s
        };
    }
    s
}

/// Whether `got` is an inverse of `t`: the same two things with the opposite spatial
/// relation, or the same relation with subject and object swapped.
pub fn inverse_of(t: &Triplet, got: &Triplet) -> bool {
    let same = |a: &str, b: &str| a.to_lowercase() == b.to_lowercase();
    let swapped = same(&got.subj.head, &t.obj.head)
        && same(&got.obj.head, &t.subj.head)
        && same(&got.rel.text, &t.rel.text);
    let opposite = same(&got.subj.head, &t.subj.head)
        && same(&got.obj.head, &t.obj.head)
        && opposite_ending(&t.rel.text).is_some_and(|(from, to)| {
            let stem = t.rel.text.len().checked_sub(from.len());
            stem.and_then(|n| t.rel.text.get(..n))
                .is_some_and(|stem| same(&got.rel.text, &format!("{stem}{to}")))
        });
    swapped || opposite
}

/// A negative written by someone else (a language model): kept when its extracted triplet is
/// an inverse of `t`.
pub fn checked_rewrite(t: &Triplet, rewrite: &str) -> Option<Negative> {
    let rewrite = rewrite.trim().trim_matches('"').trim();
    // The rules' reading: the inverse check is the guard here, not the confidence model,
    // which would judge the rewrite's wording rather than its triplet.
    let got = extract_rules(rewrite)?;
    inverse_of(t, &got).then(|| Negative {
        caption: rewrite.to_string(),
        swapped: got.subj.head != t.subj.head,
        triplet: got,
    })
}

/// The opposite-relation negative of `caption`, whose triplet is `t`.
pub fn negative(caption: &str, t: &Triplet) -> Option<Negative> {
    if let Some((from, to)) = opposite_ending(&t.rel.text) {
        let from_chars = from.chars().count();
        let start = t.rel.end - from_chars;
        let new = replace(caption, &[(start, t.rel.end, to.to_string())]);
        let got = extract_rules(&new)?;
        let want_rel = format!("{}{to}", slice(caption, t.rel.start, start));
        let ok = got.subj.head == t.subj.head
            && got.obj.head == t.obj.head
            && got.rel.text.to_lowercase() == want_rel.to_lowercase();
        return ok.then_some(Negative {
            caption: new,
            triplet: got,
            swapped: false,
        });
    }
    // An action: the two noun phrases (with their determiners) trade places.
    let (a, b) = if t.subj.outer_start < t.obj.outer_start {
        (&t.subj, &t.obj)
    } else {
        (&t.obj, &t.subj)
    };
    let a_text = slice(caption, a.outer_start, a.end);
    let b_text = slice(caption, b.outer_start, b.end);
    let lower_first = |s: &str, at: usize| {
        if at == 0 {
            let mut c = s.chars();
            c.next()
                .map(|f| f.to_lowercase().collect::<String>() + c.as_str())
                .unwrap_or_default()
        } else {
            s.to_string()
        }
    };
    let new = replace(
        caption,
        &[
            (a.outer_start, a.end, lower_first(&b_text, b.outer_start)),
            (b.outer_start, b.end, lower_first(&a_text, a.outer_start)),
        ],
    );
    let new = recapitalise(caption, new);
    let got = extract_rules(&new)?;
    let ok = got.subj.head == t.obj.head
        && got.obj.head == t.subj.head
        && got.rel.text.to_lowercase() == t.rel.text.to_lowercase()
        && got.passive == t.passive;
    ok.then_some(Negative {
        caption: new,
        triplet: got,
        swapped: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::svo::extract;

    fn neg(caption: &str) -> Option<(String, String, String, String)> {
        let t = extract(caption)?;
        let n = negative(caption, &t)?;
        Some((
            n.caption,
            n.triplet.subj.head,
            n.triplet.rel.text,
            n.triplet.obj.head,
        ))
    }

    fn n(c: &str, s: &str, r: &str, o: &str) -> Option<(String, String, String, String)> {
        Some((c.into(), s.into(), r.into(), o.into()))
    }

    #[test]
    fn spatial_relations_get_their_opposite() {
        assert_eq!(
            neg("a red car to the left of a blue truck"),
            n(
                "a red car to the right of a blue truck",
                "car",
                "to the right of",
                "truck"
            )
        );
        assert_eq!(
            neg("A bus parked behind a truck"),
            n(
                "A bus parked in front of a truck",
                "bus",
                "parked in front of",
                "truck"
            )
        );
        assert_eq!(
            neg("A cat sitting on top of a car"),
            n(
                "A cat sitting underneath a car",
                "cat",
                "sitting underneath",
                "car"
            )
        );
        assert_eq!(
            neg("a dog walking towards a man"),
            n(
                "a dog walking away from a man",
                "dog",
                "walking away from",
                "man"
            )
        );
    }

    #[test]
    fn actions_swap_subject_and_object() {
        assert_eq!(
            neg("A car hits a pedestrian"),
            n("A pedestrian hits a car", "pedestrian", "hits", "car")
        );
        assert_eq!(
            neg("the truck is towing a small car"),
            n("a small car is towing the truck", "car", "towing", "truck")
        );
        // A passive stays passive: the doer and the one it is done to trade places.
        assert_eq!(
            neg("a car is being pushed by two people"),
            n(
                "two people is being pushed by a car",
                "car",
                "pushed",
                "people"
            )
        );
    }

    #[test]
    fn a_rewrite_is_kept_only_when_it_is_an_inverse() {
        let t = extract("A man riding a horse").expect("triplet");
        let n = checked_rewrite(&t, "\"A horse riding a man\"").expect("swapped");
        assert!(n.swapped);
        assert!(checked_rewrite(&t, "A man riding a camel").is_none());
        let t = extract("a bus parked behind a truck").expect("triplet");
        assert!(checked_rewrite(&t, "a bus parked in front of a truck").is_some());
        assert!(checked_rewrite(&t, "a bus parked next to a truck").is_none());
    }

    #[test]
    fn every_negative_is_the_inverse_triplet() {
        for caption in [
            "A man riding a horse",
            "a truck towing a car",
            "a pedestrian in front of a bus",
            "A dog next to a bike",
            "Two dogs are playing in the snow",
            "A woman holding an umbrella",
        ] {
            let t = extract(caption).expect(caption);
            let n = negative(caption, &t).expect(caption);
            assert!(inverse_of(&t, &n.triplet), "{caption}");
            if n.swapped {
                assert_eq!(
                    (&n.triplet.subj.head, &n.triplet.obj.head),
                    (&t.obj.head, &t.subj.head)
                );
                assert_eq!(n.triplet.rel.text.to_lowercase(), t.rel.text.to_lowercase());
            } else {
                assert_eq!(
                    (&n.triplet.subj.head, &n.triplet.obj.head),
                    (&t.subj.head, &t.obj.head)
                );
                assert_ne!(n.triplet.rel.text, t.rel.text, "{caption}");
            }
        }
    }
}
