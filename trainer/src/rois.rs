//! Regions of interest for captions without boxes: the caption's subject and object nouns are
//! matched to detected COCO classes through a synonym map, and the best detection of each
//! class becomes its box.
//!
//! The map (written for this project from the COCO class list and the nouns common in COCO
//! captions) covers the classes the detector reports: road vehicles, people, street furniture,
//! animals and suitcases. A compound is matched on its last two words first ("traffic light",
//! "stop sign", "parking meter"), then on its head noun ("police car" -> car).

use saclip_detector::Detection;

/// Nouns and compounds, singular and plural, for each COCO class name.
pub const SYNONYMS: &[(&str, &[&str])] = &[
    (
        "person",
        &[
            "person",
            "people",
            "persons",
            "man",
            "men",
            "woman",
            "women",
            "boy",
            "boys",
            "girl",
            "girls",
            "child",
            "children",
            "kid",
            "kids",
            "guy",
            "guys",
            "lady",
            "ladies",
            "pedestrian",
            "pedestrians",
            "player",
            "players",
            "rider",
            "riders",
            "skateboarder",
            "skateboarders",
            "surfer",
            "surfers",
            "skier",
            "skiers",
            "driver",
            "drivers",
            "cop",
            "cops",
            "officer",
            "officers",
            "policeman",
            "policemen",
            "worker",
            "workers",
            "cyclist",
            "cyclists",
            "biker",
            "bikers",
            "baby",
            "toddler",
            "adult",
            "adults",
            "teenager",
            "teenagers",
            "student",
            "students",
            "tourist",
            "tourists",
            "mother",
            "father",
            "son",
            "daughter",
            "bride",
            "groom",
            "chef",
            "soldier",
            "soldiers",
            "athlete",
            "runner",
            "runners",
            "motorcyclist",
            "motorcyclists",
            "passenger",
            "passengers",
            "traveler",
            "travelers",
            "spectators",
            "crowd",
            "family",
            "couple",
            "friends",
            "teammates",
            "fans",
            "individual",
            "gentleman",
            "youngster",
        ],
    ),
    (
        "bicycle",
        &["bicycle", "bicycles", "bike", "bikes", "cycle", "cycles"],
    ),
    (
        "car",
        &[
            "car",
            "cars",
            "sedan",
            "sedans",
            "taxi",
            "taxis",
            "cab",
            "cabs",
            "suv",
            "suvs",
            "jeep",
            "jeeps",
            "automobile",
            "automobiles",
            "hatchback",
            "convertible",
            "minivan",
            "minivans",
            "vehicle",
            "vehicles",
            "racecar",
        ],
    ),
    (
        "motorcycle",
        &[
            "motorcycle",
            "motorcycles",
            "motorbike",
            "motorbikes",
            "scooter",
            "scooters",
            "moped",
            "mopeds",
            "dirt bike",
        ],
    ),
    (
        "bus",
        &["bus", "buses", "busses", "coach", "coaches", "minibus"],
    ),
    (
        "train",
        &[
            "train",
            "trains",
            "locomotive",
            "locomotives",
            "tram",
            "trams",
            "streetcar",
            "trolley",
            "subway",
        ],
    ),
    (
        "truck",
        &[
            "truck",
            "trucks",
            "pickup",
            "pickups",
            "lorry",
            "lorries",
            "van",
            "vans",
            "trailer",
            "firetruck",
            "semi",
        ],
    ),
    (
        "traffic light",
        &[
            "traffic light",
            "traffic lights",
            "stop light",
            "stoplight",
            "stoplights",
            "traffic signal",
        ],
    ),
    ("fire hydrant", &["hydrant", "hydrants"]),
    ("stop sign", &["stop sign", "stop signs"]),
    (
        "parking meter",
        &["parking meter", "parking meters", "meter", "meters"],
    ),
    ("bench", &["bench", "benches"]),
    (
        "bird",
        &[
            "bird", "birds", "pigeon", "pigeons", "seagull", "seagulls", "duck", "ducks",
        ],
    ),
    ("cat", &["cat", "cats", "kitten", "kittens", "kitty"]),
    ("dog", &["dog", "dogs", "puppy", "puppies", "pup"]),
    ("horse", &["horse", "horses", "pony", "ponies"]),
    ("sheep", &["sheep", "lamb", "lambs"]),
    (
        "cow",
        &[
            "cow", "cows", "cattle", "bull", "bulls", "calf", "calves", "ox", "oxen",
        ],
    ),
    ("elephant", &["elephant", "elephants"]),
    ("bear", &["bear", "bears"]),
    ("zebra", &["zebra", "zebras"]),
    ("giraffe", &["giraffe", "giraffes"]),
    ("suitcase", &["suitcase", "suitcases", "luggage"]),
];

/// The COCO class a noun phrase names, if the map knows it.
pub fn class_of(phrase: &str) -> Option<&'static str> {
    let words: Vec<String> = phrase
        .split_whitespace()
        .map(|w| w.to_lowercase())
        .collect();
    let find = |key: &str| {
        SYNONYMS
            .iter()
            .find(|(_, nouns)| nouns.contains(&key))
            .map(|&(class, _)| class)
    };
    let n = words.len();
    if n >= 2
        && let Some(c) = find(&format!("{} {}", words[n - 2], words[n - 1]))
    {
        return Some(c);
    }
    words.last().and_then(|w| find(w))
}

/// Why a caption got no boxes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Missing {
    /// The subject's noun is not in the synonym map.
    SubjectNotMapped,
    /// The object's noun is not in the synonym map.
    ObjectNotMapped,
    /// No detection of the subject's class.
    NoSubjectBox,
    /// No detection of the object's class, other than the subject's box.
    NoObjectBox,
}

/// The subject and object boxes of a caption among `detections` (best first): the most
/// confident detection of each class, two different boxes when both have the same class.
pub fn choose_boxes(
    subj: &str,
    obj: &str,
    detections: &[Detection],
) -> Result<([f32; 4], [f32; 4]), Missing> {
    let s_class = class_of(subj).ok_or(Missing::SubjectNotMapped)?;
    let o_class = class_of(obj).ok_or(Missing::ObjectNotMapped)?;
    let best = |class: &str, skip: Option<usize>| {
        detections
            .iter()
            .enumerate()
            .filter(|&(i, d)| d.class_name == class && Some(i) != skip)
            .max_by(|a, b| a.1.score.total_cmp(&b.1.score))
            .map(|(i, _)| i)
    };
    let s = best(s_class, None).ok_or(Missing::NoSubjectBox)?;
    let o = best(o_class, Some(s)).ok_or(Missing::NoObjectBox)?;
    let pixels = |d: &Detection| [d.bbox.x1, d.bbox.y1, d.bbox.x2, d.bbox.y2];
    Ok((pixels(&detections[s]), pixels(&detections[o])))
}

#[cfg(test)]
mod tests {
    use super::*;
    use saclip_detector::{BBox, ObjectGroup};

    fn det(class: &'static str, score: f32, x: f32) -> Detection {
        Detection {
            bbox: BBox::new(x, 0.0, x + 10.0, 10.0),
            score,
            class_id: 0,
            class_name: class,
            group: ObjectGroup::Vehicle,
        }
    }

    #[test]
    fn nouns_and_compounds_map_to_coco_classes() {
        for (phrase, class) in [
            ("young boys", Some("person")),
            ("police car", Some("car")),
            ("red fire hydrant", Some("fire hydrant")),
            ("traffic light", Some("traffic light")),
            ("stop sign", Some("stop sign")),
            ("street sign", None),
            ("tow truck", Some("truck")),
            ("Taxi", Some("car")),
            ("kitchen", None),
        ] {
            assert_eq!(class_of(phrase), class, "{phrase}");
        }
    }

    #[test]
    fn the_best_box_of_each_class_and_two_boxes_for_one_class() {
        let d = [
            det("car", 0.5, 0.0),
            det("car", 0.9, 20.0),
            det("person", 0.7, 40.0),
        ];
        let (s, o) = choose_boxes("man", "taxi", &d).expect("boxes");
        assert_eq!((s[0], o[0]), (40.0, 20.0));
        // "a car behind a car": the two most confident cars.
        let (s, o) = choose_boxes("car", "car", &d).expect("boxes");
        assert_eq!((s[0], o[0]), (20.0, 0.0));
        assert_eq!(choose_boxes("man", "man", &d), Err(Missing::NoObjectBox));
        assert_eq!(choose_boxes("dog", "car", &d), Err(Missing::NoSubjectBox));
        assert_eq!(
            choose_boxes("kitchen", "car", &d),
            Err(Missing::SubjectNotMapped)
        );
        assert_eq!(
            choose_boxes("man", "street", &d),
            Err(Missing::ObjectNotMapped)
        );
    }
}
