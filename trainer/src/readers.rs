//! Readers of the caption datasets curation starts from, each in its published format.
//!
//! | kind | format |
//! |---|---|
//! | `coco` | MS-COCO caption annotations (`captions_train2017.json`): a JSON object with `images` (`id`, `file_name`) and `annotations` (`image_id`, `caption`) |
//! | `cc3m` | Conceptual Captions TSV, one `caption<TAB>url` per line, no header (`Train_GCC-training.tsv`) |
//! | `cc12m` | Conceptual 12M TSV, one `url<TAB>caption` per line, no header (`cc12m.tsv`) |
//! | `sbu` | SBU Captioned Photo Dataset: `SBU_captioned_photo_dataset_captions.txt`, one caption a line, and the URLs line by line in the file of the same name with `urls` for `captions`, when it is there |
//! | `vg-relationships` | Visual Genome `relationships.json`: a list of images (`image_id`), each with `relationships` of `predicate`, `subject` and `object` (`name` or `names`, box `x`, `y`, `w`, `h`) |
//! | `vg-regions` | Visual Genome `region_descriptions.json`: a list of `{id, regions: [{image_id, phrase, x, y, width, height}]}` |
//! | `text` | plain text, one caption a line |
//!
//! Every record names where it came from (file and line, or index in the JSON), and a bad
//! entry is an error naming that place.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The dataset formats curation reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// MS-COCO caption annotations JSON.
    Coco,
    /// Conceptual Captions 3M TSV (caption, url).
    Cc3m,
    /// Conceptual 12M TSV (url, caption).
    Cc12m,
    /// SBU captions text file (and its URL file).
    Sbu,
    /// Visual Genome relationships.json.
    VgRelationships,
    /// Visual Genome region_descriptions.json.
    VgRegions,
    /// One caption a line.
    Text,
}

impl Kind {
    /// The kinds by the names `--input KIND:PATH` uses.
    pub const NAMES: [(&'static str, Kind); 7] = [
        ("coco", Kind::Coco),
        ("cc3m", Kind::Cc3m),
        ("cc12m", Kind::Cc12m),
        ("sbu", Kind::Sbu),
        ("vg-relationships", Kind::VgRelationships),
        ("vg-regions", Kind::VgRegions),
        ("text", Kind::Text),
    ];

    /// The kind named `name`.
    pub fn from_name(name: &str) -> Option<Kind> {
        Self::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(_, k)| k)
    }
}

/// A box in pixels: x1, y1, x2, y2.
pub type PixelBox = [f32; 4];

/// A triplet a dataset gives directly (Visual Genome), with both boxes.
#[derive(Debug, Clone, PartialEq)]
pub struct GivenTriplet {
    /// Subject name.
    pub subj: String,
    /// Predicate.
    pub rel: String,
    /// Object name.
    pub obj: String,
    /// Subject box.
    pub subj_box: PixelBox,
    /// Object box.
    pub obj_box: PixelBox,
}

/// One caption read from a dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Where it came from: `file:line` or `file[index]`.
    pub origin: String,
    /// The image: a file name relative to the image folder, or a URL; none for plain text.
    pub image: Option<String>,
    /// The caption.
    pub caption: String,
    /// The triplet the dataset gives, if it gives one.
    pub triplet: Option<GivenTriplet>,
    /// The region the caption describes, if the dataset gives one.
    pub region: Option<PixelBox>,
}

/// Why a dataset could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file could not be opened or read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not in the format of its kind.
    #[error("{}: {message}", path.display())]
    Format { path: PathBuf, message: String },
    /// One entry is wrong.
    #[error("{origin}: {message}")]
    Entry { origin: String, message: String },
}

/// Reads every caption of the `kind` dataset at `path`.
pub fn read(kind: Kind, path: &Path) -> Result<Vec<Record>, ReadError> {
    match kind {
        Kind::Coco => coco(path),
        Kind::Cc3m => tsv(path, false),
        Kind::Cc12m => tsv(path, true),
        Kind::Sbu => sbu(path),
        Kind::VgRelationships => vg_relationships(path),
        Kind::VgRegions => vg_regions(path),
        Kind::Text => text(path),
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> ReadError + '_ {
    move |source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn lines(path: &Path) -> Result<Vec<String>, ReadError> {
    let file = std::fs::File::open(path).map_err(io(path))?;
    std::io::BufReader::new(file)
        .lines()
        .collect::<Result<Vec<_>, _>>()
        .map_err(io(path))
}

fn json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, ReadError> {
    let file = std::fs::File::open(path).map_err(io(path))?;
    serde_json::from_reader(std::io::BufReader::new(file)).map_err(|e| ReadError::Format {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

fn clean(caption: &str) -> String {
    caption.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn coco(path: &Path) -> Result<Vec<Record>, ReadError> {
    #[derive(Deserialize)]
    struct Image {
        id: u64,
        file_name: String,
    }
    #[derive(Deserialize)]
    struct Annotation {
        image_id: u64,
        caption: String,
    }
    #[derive(Deserialize)]
    struct File {
        images: Vec<Image>,
        annotations: Vec<Annotation>,
    }
    let file: File = json(path)?;
    let names: std::collections::HashMap<u64, &str> = file
        .images
        .iter()
        .map(|i| (i.id, i.file_name.as_str()))
        .collect();
    file.annotations
        .iter()
        .enumerate()
        .map(|(n, a)| {
            let origin = format!("{}[annotations {n}]", path.display());
            let image = names.get(&a.image_id).ok_or_else(|| ReadError::Entry {
                origin: origin.clone(),
                message: format!("image_id {} is not among the images", a.image_id),
            })?;
            Ok(Record {
                origin,
                image: Some(image.to_string()),
                caption: clean(&a.caption),
                triplet: None,
                region: None,
            })
        })
        .collect()
}

fn tsv(path: &Path, url_first: bool) -> Result<Vec<Record>, ReadError> {
    let mut out = Vec::new();
    for (n, line) in lines(path)?.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let origin = format!("{}:{}", path.display(), n + 1);
        let mut cols = line.split('\t');
        let (a, b) = (cols.next().unwrap_or(""), cols.next());
        let Some(b) = b else {
            return Err(ReadError::Entry {
                origin,
                message: "expected two tab-separated columns".into(),
            });
        };
        let (caption, url) = if url_first { (b, a) } else { (a, b) };
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            let which = if url_first { "first" } else { "second" };
            return Err(ReadError::Entry {
                origin,
                message: format!("the {which} column should be a URL, not {url:?}"),
            });
        }
        out.push(Record {
            origin,
            image: Some(url.to_string()),
            caption: clean(caption),
            triplet: None,
            region: None,
        });
    }
    Ok(out)
}

fn sbu(path: &Path) -> Result<Vec<Record>, ReadError> {
    let captions = lines(path)?;
    let urls_path = path
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| n.contains("captions"))
        .map(|n| path.with_file_name(n.replace("captions", "urls")))
        .filter(|p| p.exists());
    let urls = match &urls_path {
        Some(p) => {
            let urls = lines(p)?;
            if urls.len() != captions.len() {
                return Err(ReadError::Format {
                    path: p.clone(),
                    message: format!(
                        "{} URLs for {} captions in {}",
                        urls.len(),
                        captions.len(),
                        path.display()
                    ),
                });
            }
            Some(urls)
        }
        None => None,
    };
    Ok(captions
        .iter()
        .enumerate()
        .filter(|(_, c)| !c.trim().is_empty())
        .map(|(n, c)| Record {
            origin: format!("{}:{}", path.display(), n + 1),
            image: urls.as_ref().map(|u| u[n].trim().to_string()),
            caption: clean(c),
            triplet: None,
            region: None,
        })
        .collect())
}

fn text(path: &Path) -> Result<Vec<Record>, ReadError> {
    Ok(lines(path)?
        .iter()
        .enumerate()
        .filter(|(_, c)| !c.trim().is_empty())
        .map(|(n, c)| Record {
            origin: format!("{}:{}", path.display(), n + 1),
            image: None,
            caption: clean(c),
            triplet: None,
            region: None,
        })
        .collect())
}

/// A Visual Genome object: one name (`name`) or several (`names`), and a box.
#[derive(Deserialize)]
struct VgObject {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    names: Vec<String>,
    x: f32,
    y: f32,
    w: f32,
    h: f32,
}

impl VgObject {
    fn name(&self) -> Option<&str> {
        self.name
            .as_deref()
            .or_else(|| self.names.first().map(String::as_str))
    }

    fn pixel_box(&self) -> PixelBox {
        [self.x, self.y, self.x + self.w, self.y + self.h]
    }
}

fn vg_relationships(path: &Path) -> Result<Vec<Record>, ReadError> {
    #[derive(Deserialize)]
    struct Relationship {
        predicate: String,
        subject: VgObject,
        object: VgObject,
    }
    #[derive(Deserialize)]
    struct Image {
        image_id: u64,
        relationships: Vec<Relationship>,
    }
    let images: Vec<Image> = json(path)?;
    let mut out = Vec::new();
    for (i, image) in images.iter().enumerate() {
        for (r, rel) in image.relationships.iter().enumerate() {
            let origin = format!("{}[{i}].relationships[{r}]", path.display());
            let (Some(s), Some(o)) = (rel.subject.name(), rel.object.name()) else {
                return Err(ReadError::Entry {
                    origin,
                    message: "subject or object has no name".into(),
                });
            };
            let predicate = clean(&rel.predicate).to_lowercase();
            let (s, o) = (clean(s).to_lowercase(), clean(o).to_lowercase());
            out.push(Record {
                origin,
                image: Some(format!("{}.jpg", image.image_id)),
                caption: format!("{} {predicate} {}", with_article(&s), with_article(&o)),
                triplet: Some(GivenTriplet {
                    subj: s,
                    rel: predicate,
                    obj: o,
                    subj_box: rel.subject.pixel_box(),
                    obj_box: rel.object.pixel_box(),
                }),
                region: None,
            });
        }
    }
    Ok(out)
}

/// "a man", "an umbrella": Visual Genome names are bare nouns.
fn with_article(noun: &str) -> String {
    let vowel = noun
        .chars()
        .next()
        .is_some_and(|c| "aeiou".contains(c.to_ascii_lowercase()));
    format!("{} {noun}", if vowel { "an" } else { "a" })
}

fn vg_regions(path: &Path) -> Result<Vec<Record>, ReadError> {
    #[derive(Deserialize)]
    struct Region {
        image_id: u64,
        phrase: String,
        x: f32,
        y: f32,
        width: f32,
        height: f32,
    }
    #[derive(Deserialize)]
    struct Image {
        regions: Vec<Region>,
    }
    let images: Vec<Image> = json(path)?;
    Ok(images
        .iter()
        .enumerate()
        .flat_map(|(i, image)| {
            image
                .regions
                .iter()
                .enumerate()
                .map(move |(r, region)| Record {
                    origin: format!("{}[{i}].regions[{r}]", path.display()),
                    image: Some(format!("{}.jpg", region.image_id)),
                    caption: clean(&region.phrase),
                    triplet: None,
                    region: Some([
                        region.x,
                        region.y,
                        region.x + region.width,
                        region.y + region.height,
                    ]),
                })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fixtures/captions")
            .join(name)
    }

    #[test]
    fn coco_captions_name_their_image_file() {
        let r = read(Kind::Coco, &fixture("captions_val2017.json")).expect("coco");
        assert_eq!(r.len(), 6);
        assert_eq!(r[0].image.as_deref(), Some("000000179765.jpg"));
        assert_eq!(
            r[0].caption,
            "A black Honda motorcycle parked in front of a garage."
        );
        assert!(
            r[0].origin
                .ends_with("captions_val2017.json[annotations 0]")
        );
        assert!(r.iter().all(|x| x.triplet.is_none()));
    }

    #[test]
    fn conceptual_captions_in_either_column_order() {
        let a = read(Kind::Cc3m, &fixture("cc3m.tsv")).expect("cc3m");
        let b = read(Kind::Cc12m, &fixture("cc12m.tsv")).expect("cc12m");
        assert_eq!((a.len(), b.len()), (4, 4));
        for r in a.iter().chain(&b) {
            assert!(
                r.image.as_deref().is_some_and(|u| u.starts_with("http")),
                "{r:?}"
            );
            assert!(!r.caption.starts_with("http"));
        }
        // Read with the wrong kind, the URL column is named.
        let e = read(Kind::Cc12m, &fixture("cc3m.tsv")).expect_err("swapped");
        assert!(e.to_string().contains("cc3m.tsv:1") && e.to_string().contains("first column"));
    }

    #[test]
    fn sbu_captions_take_their_urls_line_by_line() {
        let r = read(
            Kind::Sbu,
            &fixture("SBU_captioned_photo_dataset_captions.txt"),
        )
        .expect("sbu");
        assert_eq!(r.len(), 4);
        assert!(
            r.iter()
                .all(|x| x.image.as_deref().is_some_and(|u| u.contains("flickr")))
        );
    }

    #[test]
    fn visual_genome_relationships_are_triplets_with_boxes() {
        let r = read(Kind::VgRelationships, &fixture("relationships.json")).expect("vg");
        assert_eq!(r.len(), 3);
        let t = r[0].triplet.as_ref().expect("triplet");
        assert_eq!(
            (t.subj.as_str(), t.rel.as_str(), t.obj.as_str()),
            ("man", "riding", "horse")
        );
        assert_eq!(t.subj_box, [421.0, 91.0, 421.0 + 79.0, 91.0 + 339.0]);
        assert_eq!(r[0].caption, "a man riding a horse");
        assert_eq!(r[0].image.as_deref(), Some("1.jpg"));
    }

    #[test]
    fn visual_genome_regions_keep_their_box() {
        let r = read(Kind::VgRegions, &fixture("region_descriptions.json")).expect("vg regions");
        assert_eq!(r.len(), 3);
        assert_eq!(r[1].region, Some([10.0, 20.0, 110.0, 70.0]));
        assert_eq!(r[1].image.as_deref(), Some("1.jpg"));
    }

    #[test]
    fn plain_text_skips_blank_lines_and_bad_json_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("c.txt");
        std::fs::write(&p, "a man riding a horse\n\n  a dog   on a couch \n").expect("write");
        let r = read(Kind::Text, &p).expect("text");
        assert_eq!(r.len(), 2);
        assert_eq!(
            (r[1].caption.as_str(), r[1].origin.ends_with("c.txt:3")),
            ("a dog on a couch", true)
        );
        std::fs::write(&p, "{\"images\": []}").expect("write");
        let e = read(Kind::Coco, &p)
            .expect_err("no annotations")
            .to_string();
        assert!(e.contains("c.txt") && e.contains("annotations"), "{e}");
        let e = read(Kind::Text, &dir.path().join("missing.txt")).expect_err("missing");
        assert!(e.to_string().contains("missing.txt"));
    }
}
