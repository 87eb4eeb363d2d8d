//! A generated spatial-relations world in the spirit of the paper's CLEVR experiment (Fig. 4):
//! two objects on a ground plane seen in perspective, in one of eight configurations, with
//! captions, boxes and opposite-relation negatives. The test split holds out colour-object
//! combinations that training never shows.

use std::io::Write;
use std::path::{Path, PathBuf};

use image::{Rgb, RgbImage};
use serde::{Deserialize, Serialize};

use crate::dataset::Sample;

/// The eight configurations of the subject relative to the object, as seen from the camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum Relation {
    /// Nearer the camera.
    Front,
    /// Farther from the camera.
    Behind,
    /// Left of it.
    Left,
    /// Right of it.
    Right,
    /// Nearer and left.
    FrontLeft,
    /// Nearer and right.
    FrontRight,
    /// Farther and left.
    BehindLeft,
    /// Farther and right.
    BehindRight,
}

impl Relation {
    /// All eight, in a fixed order.
    pub const ALL: [Self; 8] = [
        Self::Front,
        Self::Behind,
        Self::Left,
        Self::Right,
        Self::FrontLeft,
        Self::FrontRight,
        Self::BehindLeft,
        Self::BehindRight,
    ];

    /// The relation phrase of captions.
    pub fn phrase(self) -> &'static str {
        match self {
            Self::Front => "in front of",
            Self::Behind => "behind",
            Self::Left => "to the left of",
            Self::Right => "to the right of",
            Self::FrontLeft => "in front of and left of",
            Self::FrontRight => "in front of and right of",
            Self::BehindLeft => "behind and left of",
            Self::BehindRight => "behind and right of",
        }
    }

    /// The opposite configuration (the object's relation to the subject).
    pub fn opposite(self) -> Self {
        match self {
            Self::Front => Self::Behind,
            Self::Behind => Self::Front,
            Self::Left => Self::Right,
            Self::Right => Self::Left,
            Self::FrontLeft => Self::BehindRight,
            Self::FrontRight => Self::BehindLeft,
            Self::BehindLeft => Self::FrontRight,
            Self::BehindRight => Self::FrontLeft,
        }
    }

    /// Unit direction (lateral x, depth z) of the subject from the object; +z is away.
    fn direction(self) -> (f32, f32) {
        let d = std::f32::consts::FRAC_1_SQRT_2;
        match self {
            Self::Front => (0.0, -1.0),
            Self::Behind => (0.0, 1.0),
            Self::Left => (-1.0, 0.0),
            Self::Right => (1.0, 0.0),
            Self::FrontLeft => (-d, -d),
            Self::FrontRight => (d, -d),
            Self::BehindLeft => (-d, d),
            Self::BehindRight => (d, d),
        }
    }

    /// The configuration from a displacement (lateral, depth) of the subject from the object.
    pub fn from_offset(dx: f32, dz: f32) -> Self {
        let angle = dz.atan2(dx).to_degrees();
        // Sectors of 45 degrees centred on each direction.
        let sector = (((angle + 360.0 + 22.5) % 360.0) / 45.0) as usize;
        [
            Self::Right,
            Self::BehindRight,
            Self::Behind,
            Self::BehindLeft,
            Self::Left,
            Self::FrontLeft,
            Self::Front,
            Self::FrontRight,
        ][sector % 8]
    }
}

/// Object kinds: CLEVR's cube and sphere, and road-like car, person and cone.
pub const SHAPES: [&str; 5] = ["cube", "sphere", "car", "person", "cone"];
/// Colour names and their RGB.
pub const COLOURS: [(&str, [u8; 3]); 8] = [
    ("red", [200, 40, 40]),
    ("green", [40, 160, 60]),
    ("blue", [40, 70, 210]),
    ("yellow", [230, 200, 40]),
    ("purple", [140, 60, 180]),
    ("cyan", [40, 190, 200]),
    ("white", [235, 235, 235]),
    ("orange", [240, 130, 30]),
];

/// Colour-object combinations kept out of training and validation: one per colour (red cube,
/// green sphere, blue car, yellow person, purple cone, cyan cube, white sphere, orange car),
/// so every colour and every shape is seen in training, only not in these pairs.
pub fn held_out(colour: usize, shape: usize) -> bool {
    shape == colour % SHAPES.len()
}

const TEMPLATES: [&str; 4] = [
    "a {s} is {r} a {o}",
    "there is a {s} {r} the {o}",
    "the {s} stands {r} the {o}",
    "a photo of a {s} {r} a {o}",
];

/// Options of the generator.
#[derive(Debug, Clone)]
pub struct SynthOptions {
    /// Output folder (images and the three JSON-lines files).
    pub out: PathBuf,
    /// Image side in pixels.
    pub size: u32,
    /// Samples per split.
    pub train: usize,
    /// Validation samples (seen colour-object combinations).
    pub val: usize,
    /// Test samples (the subject is a held-out colour-object combination).
    pub test: usize,
    /// Random seed: the same seed writes the same dataset.
    pub seed: u64,
}

struct Object {
    shape: usize,
    colour: usize,
    /// Lateral position and depth on the ground, world units.
    x: f32,
    z: f32,
    /// Size, world units.
    s: f32,
}

/// Camera: horizon row and focal length as fractions of the image side.
const HORIZON: f32 = 0.3;
const FOCAL: f32 = 0.9;
const CAMERA_HEIGHT: f32 = 1.6;

fn project(o: &Object, size: f32) -> [f32; 4] {
    let f = FOCAL * size;
    let cx = size / 2.0 + f * o.x / o.z;
    let ground = HORIZON * size + f * CAMERA_HEIGHT / o.z;
    let w = f * o.s / o.z;
    let h = w * if SHAPES[o.shape] == "person" {
        1.8
    } else if SHAPES[o.shape] == "car" {
        0.6
    } else {
        1.0
    };
    let w = if SHAPES[o.shape] == "car" { w * 1.6 } else { w };
    [cx - w / 2.0, ground - h, cx + w / 2.0, ground]
}

fn shade(c: [u8; 3], k: f32) -> Rgb<u8> {
    Rgb(c.map(|v| (v as f32 * k).clamp(0.0, 255.0) as u8))
}

fn fill(img: &mut RgbImage, x1: f32, y1: f32, x2: f32, y2: f32, c: Rgb<u8>) {
    let (w, h) = (img.width() as f32, img.height() as f32);
    let (xa, xb) = (x1.max(0.0) as u32, x2.min(w).max(0.0) as u32);
    let (ya, yb) = (y1.max(0.0) as u32, y2.min(h).max(0.0) as u32);
    for y in ya..yb {
        for x in xa..xb {
            img.put_pixel(x, y, c);
        }
    }
}

fn disc(img: &mut RgbImage, cx: f32, cy: f32, r: f32, colour: [u8; 3], shaded: bool) {
    let (w, h) = (img.width() as i64, img.height() as i64);
    for y in ((cy - r) as i64).max(0)..((cy + r + 1.0) as i64).min(h) {
        for x in ((cx - r) as i64).max(0)..((cx + r + 1.0) as i64).min(w) {
            let (dx, dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
            if dx * dx + dy * dy <= r * r {
                // Light from the upper left.
                let k = if shaded {
                    1.15 - 0.5 * ((dx + dy) / (2.0 * r) + 0.5).clamp(0.0, 1.0)
                } else {
                    1.0
                };
                img.put_pixel(x as u32, y as u32, shade(colour, k));
            }
        }
    }
}

fn draw(img: &mut RgbImage, o: &Object, b: [f32; 4]) {
    let c = COLOURS[o.colour].1;
    let [x1, y1, x2, y2] = b;
    let (w, h) = (x2 - x1, y2 - y1);
    match SHAPES[o.shape] {
        "cube" => {
            // Front face and a lighter top face.
            let top = h * 0.25;
            fill(img, x1, y1 + top, x2, y2, shade(c, 0.85));
            fill(
                img,
                x1 + w * 0.12,
                y1,
                x2 - w * 0.12,
                y1 + top,
                shade(c, 1.15),
            );
        }
        "sphere" => disc(img, (x1 + x2) / 2.0, (y1 + y2) / 2.0, w / 2.0, c, true),
        "car" => {
            fill(img, x1, y1 + h * 0.4, x2, y2 - h * 0.15, shade(c, 1.0));
            fill(
                img,
                x1 + w * 0.25,
                y1,
                x2 - w * 0.2,
                y1 + h * 0.45,
                shade(c, 0.8),
            );
            for wx in [x1 + w * 0.22, x2 - w * 0.22] {
                disc(img, wx, y2 - h * 0.15, h * 0.15, [30, 30, 30], false);
            }
        }
        "person" => {
            disc(
                img,
                (x1 + x2) / 2.0,
                y1 + w * 0.3,
                w * 0.3,
                [225, 190, 160],
                false,
            );
            fill(
                img,
                x1 + w * 0.1,
                y1 + w * 0.6,
                x2 - w * 0.1,
                y1 + h * 0.65,
                shade(c, 1.0),
            );
            fill(
                img,
                x1 + w * 0.2,
                y1 + h * 0.65,
                x1 + w * 0.45,
                y2,
                shade(c, 0.6),
            );
            fill(
                img,
                x2 - w * 0.45,
                y1 + h * 0.65,
                x2 - w * 0.2,
                y2,
                shade(c, 0.6),
            );
        }
        _ => {
            // A cone: a triangle, widening downwards, with a light band.
            let rows = h.max(1.0);
            let mut y = y1;
            while y < y2 {
                let t = (y - y1) / rows;
                let half = w / 2.0 * t;
                let k = if (0.45..0.6).contains(&t) { 1.5 } else { 1.0 };
                fill(
                    img,
                    (x1 + x2) / 2.0 - half,
                    y,
                    (x1 + x2) / 2.0 + half,
                    y + 1.0,
                    shade(c, k),
                );
                y += 1.0;
            }
        }
    }
}

fn background(size: u32, rng: &mut fastrand::Rng) -> RgbImage {
    let horizon = (HORIZON * size as f32) as u32;
    let tint = rng.u8(0..30);
    RgbImage::from_fn(size, size, |_, y| {
        if y < horizon {
            Rgb([150 + tint / 2, 180 + tint / 2, 215])
        } else {
            // Ground darkening towards the camera shows depth.
            let t = (y - horizon) as f32 / (size - horizon) as f32;
            let g = (120.0 - 40.0 * t) as u8 + tint / 3;
            Rgb([g, g, g + 5])
        }
    })
}

fn caption(template: &str, s: &str, r: Relation, o: &str) -> String {
    template
        .replace("{s}", s)
        .replace("{r}", r.phrase())
        .replace("{o}", o)
}

/// Whether a (colour, shape) may be used, for the subject (true) or the object.
type ComboFilter = dyn Fn(usize, usize, bool) -> bool;

/// One scene: image and its sample (the image path is relative to the dataset folder).
fn scene(rng: &mut fastrand::Rng, size: u32, combo_ok: &ComboFilter) -> (RgbImage, Sample) {
    loop {
        let pick = |rng: &mut fastrand::Rng, subject: bool| loop {
            let (c, s) = (rng.usize(0..COLOURS.len()), rng.usize(0..SHAPES.len()));
            if combo_ok(c, s, subject) {
                return (c, s);
            }
        };
        let (sc, ss) = pick(rng, true);
        let (oc, os) = pick(rng, false);
        if (sc, ss) == (oc, os) {
            continue;
        }
        let relation = Relation::ALL[rng.usize(0..8)];
        let (dx, dz) = relation.direction();
        let dist = 1.4 + rng.f32() * 1.2;
        let object = Object {
            shape: os,
            colour: oc,
            x: -1.0 + rng.f32() * 2.0,
            z: 4.0 + rng.f32() * 3.0,
            s: 0.7 + rng.f32() * 0.5,
        };
        let subject = Object {
            shape: ss,
            colour: sc,
            x: object.x + dx * dist,
            z: object.z + dz * dist * 1.3,
            s: 0.7 + rng.f32() * 0.5,
        };
        if subject.z < 2.5 {
            continue;
        }
        let fs = size as f32;
        let (sb, ob) = (project(&subject, fs), project(&object, fs));
        let inside =
            |b: [f32; 4]| b[0] >= 1.0 && b[2] <= fs - 1.0 && b[1] >= 1.0 && b[3] <= fs - 1.0;
        // Both fully visible, and the nearer one hiding at most a third of the farther one.
        let overlap = (sb[2].min(ob[2]) - sb[0].max(ob[0])).max(0.0)
            * (sb[3].min(ob[3]) - sb[1].max(ob[1])).max(0.0);
        let area = |b: [f32; 4]| (b[2] - b[0]) * (b[3] - b[1]);
        if !inside(sb) || !inside(ob) || overlap > area(sb).min(area(ob)) / 3.0 {
            continue;
        }
        let mut img = background(size, rng);
        // Painter's order: farther first.
        let mut order = [(&subject, sb), (&object, ob)];
        order.sort_by(|a, b| b.0.z.total_cmp(&a.0.z));
        for (o, b) in order {
            draw(&mut img, o, b);
        }
        let s_name = format!("{} {}", COLOURS[sc].0, SHAPES[ss]);
        let o_name = format!("{} {}", COLOURS[oc].0, SHAPES[os]);
        let template = TEMPLATES[rng.usize(0..TEMPLATES.len())];
        let round = |b: [f32; 4]| b.map(|v| (v * 10.0).round() / 10.0);
        let sample = Sample {
            image: PathBuf::new(),
            caption: caption(template, &s_name, relation, &o_name),
            subj: s_name.clone(),
            rel: relation.phrase().into(),
            obj: o_name.clone(),
            subj_box: round(sb),
            obj_box: round(ob),
            neg_caption: caption(template, &s_name, relation.opposite(), &o_name),
            neg_subj: s_name,
            neg_rel: relation.opposite().phrase().into(),
            neg_obj: o_name,
            relation: Some(relation),
            spans: None,
            neg_spans: None,
        };
        return (img, sample);
    }
}

/// Writes `train.jsonl`, `val.jsonl`, `test.jsonl` and their images under `options.out`;
/// returns the sample counts.
pub fn generate(options: &SynthOptions, progress: &dyn Fn(u64)) -> std::io::Result<[usize; 3]> {
    let mut rng = fastrand::Rng::with_seed(options.seed);
    let seen = |c: usize, s: usize, _: bool| !held_out(c, s);
    let unseen_subject = |c: usize, s: usize, subject: bool| !subject || held_out(c, s);
    let splits: [(&str, usize, &ComboFilter); 3] = [
        ("train", options.train, &seen),
        ("val", options.val, &seen),
        ("test", options.test, &unseen_subject),
    ];
    let mut done = 0;
    for (name, count, ok) in splits {
        let dir = options.out.join("images").join(name);
        std::fs::create_dir_all(&dir)?;
        let mut lines = std::io::BufWriter::new(std::fs::File::create(
            options.out.join(format!("{name}.jsonl")),
        )?);
        for i in 0..count {
            let (img, mut sample) = scene(&mut rng, options.size, ok);
            let rel = Path::new("images").join(name).join(format!("{i:06}.png"));
            img.save(options.out.join(&rel))
                .map_err(std::io::Error::other)?;
            sample.image = rel;
            serde_json::to_writer(&mut lines, &sample)?;
            lines.write_all(b"\n")?;
            done += 1;
            progress(done);
        }
        lines.flush()?;
    }
    Ok([options.train, options.val, options.test])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_relation_has_its_opposite_and_offsets_classify_back() {
        for r in Relation::ALL {
            assert_eq!(r.opposite().opposite(), r);
            assert_ne!(r.opposite(), r);
            let (dx, dz) = r.direction();
            assert_eq!(Relation::from_offset(dx, dz), r);
        }
    }

    #[test]
    fn held_out_combinations_cover_every_colour_and_shape() {
        for c in 0..COLOURS.len() {
            assert!((0..SHAPES.len()).any(|s| held_out(c, s)), "colour {c}");
        }
        for s in 0..SHAPES.len() {
            assert!((0..COLOURS.len()).any(|c| held_out(c, s)), "shape {s}");
        }
        let n = (0..8)
            .flat_map(|c| (0..5).map(move |s| (c, s)))
            .filter(|&(c, s)| held_out(c, s))
            .count();
        assert_eq!(n, 8);
    }
}

#[cfg(test)]
mod generated {
    use super::*;
    use crate::dataset::read_jsonl;

    /// The world position (lateral, depth) of an object from its box: the inverse projection of
    /// its ground contact point.
    fn world(b: [f32; 4], size: f32) -> (f32, f32) {
        let f = FOCAL * size;
        let z = f * CAMERA_HEIGHT / (b[3] - HORIZON * size);
        let x = ((b[0] + b[2]) / 2.0 - size / 2.0) * z / f;
        (x, z)
    }

    #[test]
    fn boxes_agree_with_relations_and_the_test_split_holds_out_combinations() {
        let dir = tempfile::tempdir().expect("tempdir");
        let options = SynthOptions {
            out: dir.path().to_path_buf(),
            size: 96,
            train: 120,
            val: 10,
            test: 40,
            seed: 7,
        };
        assert_eq!(
            generate(&options, &|_| {}).expect("generate"),
            [120, 10, 40]
        );
        let combo = |name: &str| {
            let (c, s) = name.split_once(' ').expect("colour shape");
            let c = COLOURS.iter().position(|x| x.0 == c).expect("colour");
            let s = SHAPES.iter().position(|x| *x == s).expect("shape");
            held_out(c, s)
        };
        let mut seen = std::collections::BTreeSet::new();
        for split in ["train", "val", "test"] {
            let samples = read_jsonl(&dir.path().join(format!("{split}.jsonl"))).expect("read");
            for s in &samples {
                let r = s.relation.expect("label");
                seen.insert(r);
                // The relation recovered from the two boxes is the label.
                let (sx, sz) = world(s.subj_box, 96.0);
                let (ox, oz) = world(s.obj_box, 96.0);
                assert_eq!(Relation::from_offset(sx - ox, (sz - oz) / 1.3), r, "{s:?}");
                assert_eq!(s.rel, r.phrase());
                assert_eq!(s.neg_rel, r.opposite().phrase());
                assert!(
                    s.caption.contains(r.phrase()) && s.neg_caption.contains(r.opposite().phrase())
                );
                let img = image::open(&s.image).expect("image");
                assert_eq!((img.width(), img.height()), (96, 96));
                match split {
                    "test" => assert!(combo(&s.subj), "{}", s.subj),
                    _ => assert!(!combo(&s.subj) && !combo(&s.obj), "{s:?}"),
                }
            }
        }
        assert_eq!(seen.len(), 8, "all eight relations appear");
        // The same seed writes the same data.
        let again = tempfile::tempdir().expect("tempdir");
        generate(
            &SynthOptions {
                out: again.path().to_path_buf(),
                ..options
            },
            &|_| {},
        )
        .expect("generate");
        for f in ["train.jsonl", "images/test/000003.png"] {
            assert_eq!(
                std::fs::read(dir.path().join(f)).expect("read"),
                std::fs::read(again.path().join(f)).expect("read"),
                "{f}"
            );
        }
    }
}
