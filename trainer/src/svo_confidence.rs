//! How likely a triplet of the SVO rules is wrong: a logistic model over the triplet's shape
//! in its caption (relation words, what comes before and after, length, commas, passives),
//! fitted on the human-labelled caption sets. The extractor abstains above [`THRESHOLD`].
//!
//! The rules cannot tell which of their readings are shaky; the labelled sets can. The model
//! reads only the caption and the triplet (not the parser's state), so that it can judge any
//! triplet the rules give, in fitting as in use.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::OnceLock;

use crate::svo::Triplet;

/// Above this probability of being wrong, the extractor gives no triplet.
pub const THRESHOLD: f64 = 0.5;

/// The fitted weights: `name=value<TAB>weight` per line, made by `saclip-train svo-confidence`
/// from the labelled sets (`make svo-confidence`).
const WEIGHTS: &str = include_str!("data/svo_confidence.txt");

/// Passes over the training lines.
const EPOCHS: usize = 30;
/// Step size of the stochastic gradient descent.
const LEARNING_RATE: f64 = 0.03;
/// L2 penalty on the weights.
const L2: f64 = 3e-3;

/// Digits for counts, so that features need no formatting.
const COUNTS: [&str; 8] = ["0", "1", "2", "3", "4", "5", "6", "7"];

/// FNV-1a, the same over a weights file's `name=value` text and over the parts read here.
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }

    fn byte(&mut self, x: u8) {
        self.0 ^= u64::from(x);
        self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
    }

    fn bytes(&mut self, b: &[u8]) {
        b.iter().for_each(|&x| self.byte(x));
    }

    /// Adds `s` lower-cased.
    fn lower(&mut self, s: &str) {
        if s.is_ascii() {
            // Nearly every caption: no Unicode case tables on the hot path.
            s.bytes().for_each(|x| self.byte(x.to_ascii_lowercase()));
            return;
        }
        // As `str::to_lowercase`, which wrote the weights file's names: it knows a word-final
        // sigma, which lower-casing one character at a time does not.
        self.bytes(s.to_lowercase().as_bytes());
    }
}

/// The key of a weights file's `name=value` text.
fn name_key(text: &str) -> u64 {
    let mut h = Fnv::new();
    h.bytes(text.as_bytes());
    h.0
}

/// The key of feature `name` with the value `parts` joined by spaces, as [`name_key`] gives it
/// for `name=parts` lower-cased.
fn key(name: &str, parts: &[&str]) -> u64 {
    let mut h = Fnv::new();
    h.bytes(name.as_bytes());
    h.bytes(b"=");
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            h.bytes(b" ");
        }
        h.lower(p);
    }
    h.0
}

/// A hasher for keys that are hashes already (FNV-1a): the key is its own hash.
#[derive(Default, Clone, Copy)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed here; fold anything else in FNV's way all the same.
        let mut h = Fnv(self.0);
        h.bytes(bytes);
        self.0 = h.0;
    }

    fn write_u64(&mut self, k: u64) {
        self.0 = k;
    }
}

/// A weights file line that is not `name=value<TAB>weight` with a finite weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("weights line {line}: expected name=value<TAB>finite weight")]
pub struct WeightsError {
    /// The line's number, from 1.
    pub line: usize,
}

/// A fitted model: each feature's weight towards "wrong", by key.
#[derive(Debug, Clone, Default)]
pub struct Model {
    weights: HashMap<u64, f64, BuildHasherDefault<KeyHasher>>,
}

impl Model {
    /// Reads a weights file's text.
    pub fn parse(text: &str) -> Result<Self, WeightsError> {
        let mut weights = HashMap::default();
        for (n, line) in text.lines().enumerate() {
            if line.starts_with('#') || line.is_empty() {
                continue;
            }
            let bad = WeightsError { line: n + 1 };
            let (feature, weight) = line.split_once('\t').ok_or(bad)?;
            let weight: f64 = weight.parse().map_err(|_| bad)?;
            if !weight.is_finite() {
                return Err(bad);
            }
            weights.insert(name_key(feature), weight);
        }
        Ok(Self { weights })
    }

    /// The probability that triplet `t` read from `caption` is wrong.
    pub fn p_wrong(&self, caption: &str, t: &Triplet) -> f64 {
        let mut z = 0.0;
        features(caption, t, &mut |name, parts| {
            z += self.weights.get(&key(name, parts)).copied().unwrap_or(0.0);
        });
        sigmoid(z)
    }

    /// How many features have a weight.
    pub fn len(&self) -> usize {
        self.weights.len()
    }

    /// Whether no feature has a weight (every triplet is then even odds).
    pub fn is_empty(&self) -> bool {
        self.weights.is_empty()
    }
}

/// The model built in (a test checks that it parses).
fn builtin() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| Model::parse(WEIGHTS).unwrap_or_default())
}

/// Words (letters, digits, apostrophes) and single punctuation marks of `text`.
fn tokens(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        rest = rest.trim_start();
        let first = rest.chars().next()?;
        let word = |c: char| c.is_alphanumeric() || c == '\'';
        let len = if word(first) {
            rest.find(|c: char| !word(c)).unwrap_or(rest.len())
        } else {
            first.len_utf8()
        };
        let (tok, tail) = rest.split_at(len);
        rest = tail;
        Some(tok)
    })
}

fn is_word(t: &str) -> bool {
    t.starts_with(char::is_alphanumeric)
}

fn ing_word(t: &str) -> bool {
    t.len() > 4 && t.as_bytes()[t.len() - 3..].eq_ignore_ascii_case(b"ing")
}

/// The byte offset of character `c` of `s`.
fn byte(s: &str, c: usize) -> usize {
    s.char_indices().nth(c).map_or(s.len(), |(b, _)| b)
}

/// A small count as a feature value, the last one standing for itself and more.
fn count(n: usize, most: usize) -> &'static str {
    COUNTS[n.min(most).min(COUNTS.len() - 1)]
}

/// A yes / no feature value.
fn flag(b: bool) -> &'static str {
    count(usize::from(b), 1)
}

/// Calls `f` with each feature of triplet `t` of `caption`: its name and its value's parts.
fn features(caption: &str, t: &Triplet, f: &mut impl FnMut(&str, &[&str])) {
    // The three phrases in the order of the text (a passive's agent comes last).
    let ascii = caption.is_ascii();
    let at = |c: usize| {
        if ascii {
            c.min(caption.len())
        } else {
            byte(caption, c)
        }
    };
    let mut spans = [&t.subj, &t.rel, &t.obj].map(|p| (at(p.start), at(p.end)));
    spans.sort_unstable();
    let [first, middle, last] = spans;
    // One pass over the caption's tokens, each placed by where it starts: before the first
    // phrase, between the phrases, after the last.
    let (mut before_last, mut before_n, mut gap1, mut gap2) = ("<start>", 0, 0, 0);
    let (mut after1, mut after2, mut after_n) = (None, None, 0);
    let (mut after_words, mut ing_after, mut and_after) = (0, 0, false);
    let (mut words, mut ing_all, mut stop_seen, mut inner_stop) = (0, 0, false, false);
    for tok in tokens(caption) {
        let at = tok.as_ptr() as usize - caption.as_ptr() as usize;
        inner_stop |= stop_seen;
        stop_seen = tok == ".";
        words += usize::from(is_word(tok));
        ing_all += usize::from(ing_word(tok));
        if at < first.0 {
            (before_last, before_n) = (tok, before_n + 1);
        } else if at >= first.1 && at < middle.0 {
            gap1 += 1;
        } else if at >= middle.1 && at < last.0 {
            gap2 += 1;
        } else if at >= last.1 {
            match after_n {
                0 => after1 = Some(tok),
                1 => after2 = Some(tok),
                _ => {}
            }
            after_n += 1;
            after_words += usize::from(is_word(tok));
            ing_after += usize::from(ing_word(tok));
            and_after |= tok.eq_ignore_ascii_case("and");
        }
    }
    let mut rel = tokens(&t.rel.text);
    let rel_first = rel.next().unwrap_or("");
    let (rel_last, rel_n) = rel.fold((rel_first, 1), |(_, n), w| (w, n + 1));
    let rel_n = if rel_first.is_empty() { 0 } else { rel_n };

    f("bias", &[]);
    f("rel1", &[rel_first]);
    f("rellast", &[rel_last]);
    let ends = |tail: &str| {
        let (r, t) = (rel_first.as_bytes(), tail.as_bytes());
        r.len() >= t.len() && r[r.len() - t.len()..].eq_ignore_ascii_case(t)
    };
    let kind = if rel_first.eq_ignore_ascii_case("with") {
        "with"
    } else if ends("ing") {
        "ing"
    } else if ends("ed") {
        "ed"
    } else if ends("s") {
        "s"
    } else {
        "other"
    };
    f("relkind", &[kind]);
    f("reln", &[count(rel_n, 4)]);
    f("after1", &[after1.unwrap_or("<end>")]);
    match (after1, after2) {
        (Some(a), Some(b)) => f("after2", &[a, b]),
        (Some(a), None) => f("after2", &[a]),
        _ => f("after2", &["<end>"]),
    }
    f("naft", &[count(after_words / 3, 4)]);
    f("before1", &[before_last]);
    f("nbef", &[count(before_n, 4)]);
    f("len", &[count(words / 4, 6)]);
    f("comma", &[count(caption.matches(',').count(), 3)]);
    let low = caption.starts_with(char::is_lowercase);
    f("lowstart", &[flag(low)]);
    f("passive", &[flag(t.passive)]);
    f("gap1", &[count(gap1, 4)]);
    f("gap2", &[count(gap2, 4)]);
    f("ingafter", &[count(ing_after, 2)]);
    f("ingall", &[count(ing_all, 3)]);
    f("andafter", &[flag(and_after)]);
    f("stop", &[flag(inner_stop)]);
    let bare = |p: &crate::svo::Phrase| p.text.eq_ignore_ascii_case(&p.head);
    f("subjbare", &[flag(bare(&t.subj))]);
    f("objbare", &[flag(bare(&t.obj))]);
}

/// The probability that triplet `t` read from `caption` is wrong, by the built-in model.
pub fn p_wrong(caption: &str, t: &Triplet) -> f64 {
    builtin().p_wrong(caption, t)
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z.clamp(-30.0, 30.0)).exp())
}

/// The features of triplet `t` of `caption` as `name=value` text, as the weights file names
/// them.
pub fn feature_names(caption: &str, t: &Triplet) -> Vec<String> {
    let mut out = Vec::new();
    features(caption, t, &mut |name, parts| {
        out.push(format!("{name}={}", parts.join(" ").to_lowercase()));
    });
    out
}

/// One training line: a caption, the rules' triplet for it and whether that is right.
pub struct Sample {
    /// The caption.
    pub caption: String,
    /// What the rules read.
    pub triplet: Triplet,
    /// Whether the label agrees.
    pub right: bool,
}

/// Fits the model on `samples` (the same lines give the same weights) and returns the text
/// of a weights file, with `header` as its comment lines.
pub fn fit(samples: &[&Sample], header: &str) -> String {
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    let rows: Vec<(Vec<usize>, f64)> = samples
        .iter()
        .map(|s| {
            let ids = feature_names(&s.caption, &s.triplet)
                .into_iter()
                .map(|name| {
                    let next = index.len();
                    *index.entry(name).or_insert(next)
                })
                .collect();
            (ids, if s.right { 0.0 } else { 1.0 })
        })
        .collect();
    let mut w = vec![0.0f64; index.len()];
    let mut order: Vec<usize> = (0..rows.len()).collect();
    let mut rng = fastrand::Rng::with_seed(0);
    for _ in 0..EPOCHS {
        rng.shuffle(&mut order);
        for &i in &order {
            let (ids, y) = &rows[i];
            let p = sigmoid(ids.iter().map(|&k| w[k]).sum());
            let g = p - y;
            for &k in ids {
                w[k] -= LEARNING_RATE * (g + L2 * w[k]);
            }
        }
    }
    let mut text = String::new();
    // Writing to a String cannot fail.
    for line in header.lines() {
        let _ = writeln!(text, "# {line}");
    }
    for (name, k) in &index {
        let _ = writeln!(text, "{name}\t{:.6}", w[*k]);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::svo::extract_rules;

    #[test]
    fn the_committed_weights_parse_and_name_their_features_as_read() {
        let weights = Model::parse(WEIGHTS).expect("every line is name=value<TAB>weight");
        assert!(weights.len() > 500, "{} weights", weights.len());
        // The model the extractor uses is that file, not an empty stand-in.
        assert_eq!(builtin().len(), weights.len());
        // Keys made while reading equal the keys of the names a weights file holds; outside
        // ASCII too, with a word-final capital sigma that must lower-case alike both ways.
        for caption in [
            "A Man riding a horse, on the beach.",
            "Ο ΑΝΘΡΩΠΟΣ riding a horse near the ΔΡΟΜΟΣ",
        ] {
            let t = extract_rules(caption).expect("a triplet");
            let mut keys = Vec::new();
            features(caption, &t, &mut |name, parts| keys.push(key(name, parts)));
            let from_names: Vec<u64> = feature_names(caption, &t)
                .iter()
                .map(|n| name_key(n))
                .collect();
            assert_eq!(keys, from_names, "{caption}");
        }
        let caption = "A Man riding a horse, on the beach.";
        let t = extract_rules(caption).expect("a triplet");
        assert!(feature_names(caption, &t).contains(&"after1=,".to_string()));
        assert!(feature_names(caption, &t).contains(&"rel1=riding".to_string()));
    }

    #[test]
    fn a_bad_weights_line_is_named() {
        let line = |text: &str| Model::parse(text).err().map(|e| e.line);
        assert_eq!(line("# c\nbias=\t0.5\nrel1=on 0.2\n"), Some(3));
        assert_eq!(line("bias=\tx\n"), Some(1));
        assert_eq!(line("bias=\t0.1\nrel1=on\tNaN\n"), Some(2));
        let e = Model::parse("bias=\tinf\n").expect_err("not finite");
        assert!(e.to_string().contains("line 1"), "{e}");
        // A model of the bias alone rates every triplet the same: 0.5 weighs towards wrong.
        let t = extract_rules("a man riding a horse").expect("a triplet");
        let p = Model::parse("bias=\t0.5\n")
            .expect("one line")
            .p_wrong("a man riding a horse", &t);
        assert!((p - 1.0 / (1.0 + (-0.5f64).exp())).abs() < 1e-12, "{p}");
    }

    #[test]
    fn fitting_learns_which_shapes_are_wrong() {
        // Triplets whose relation is "near" are wrong, "riding" right: the model must say so.
        let mut samples = Vec::new();
        for (i, animal) in ["horse", "camel", "pony", "mule", "donkey"]
            .iter()
            .enumerate()
        {
            for (rel, right) in [("riding", true), ("near", false)] {
                let caption = format!("a man {rel} a {animal} number {i}");
                let triplet = extract_rules(&caption).expect("a triplet");
                samples.push(Sample {
                    caption,
                    triplet,
                    right,
                });
            }
        }
        let samples: Vec<&Sample> = samples.iter().collect();
        let text = fit(&samples, "test");
        assert!(text.starts_with("# test\n"));
        let model = Model::parse(&text).expect("parses");
        let score = |caption: &str| {
            let t = extract_rules(caption).expect("a triplet");
            model.p_wrong(caption, &t)
        };
        assert!(
            score("a boy near a goat") > 0.7,
            "{}",
            score("a boy near a goat")
        );
        assert!(
            score("a boy riding a goat") < 0.3,
            "{}",
            score("a boy riding a goat")
        );
        // The same lines give the same weights.
        assert_eq!(text, fit(&samples, "test"));
    }

    #[test]
    fn tokens_split_words_and_marks() {
        let got: Vec<&str> = tokens("  a man's dog, running.").collect();
        assert_eq!(got, ["a", "man's", "dog", ",", "running", "."]);
        assert_eq!(byte("é a", 2), 3);
    }
}
