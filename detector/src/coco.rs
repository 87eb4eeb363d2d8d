//! The 80 COCO class names in YOLO order and the object group of each.
//!
//! Only classes with a group are reported: the anomaly scorer pairs vehicles, people and
//! obstacles with each other, so any other class (a laptop, a pizza) could never contribute
//! to a score and would only crowd out useful detections under `max_detections`.
//!
//! Grouping choices:
//! - vehicle: road vehicles only (bicycle, car, motorcycle, bus, train, truck). Airplanes and
//!   boats are not road traffic; a train is kept because level crossings are.
//! - person: person.
//! - obstacle: street furniture a vehicle can hit (traffic light, fire hydrant, stop sign,
//!   parking meter, bench), every animal class (bird to giraffe), and suitcase (luggage lying
//!   on a road is typical debris). Backpack, handbag and umbrella are left out: they are
//!   nearly always carried by a person, so they would duplicate the person as an obstacle.

use crate::ObjectGroup;

/// Number of COCO classes.
pub const NUM_CLASSES: usize = 80;

/// COCO class names, indexed by YOLO class id.
pub const CLASS_NAMES: [&str; NUM_CLASSES] = [
    "person",
    "bicycle",
    "car",
    "motorcycle",
    "airplane",
    "bus",
    "train",
    "truck",
    "boat",
    "traffic light",
    "fire hydrant",
    "stop sign",
    "parking meter",
    "bench",
    "bird",
    "cat",
    "dog",
    "horse",
    "sheep",
    "cow",
    "elephant",
    "bear",
    "zebra",
    "giraffe",
    "backpack",
    "umbrella",
    "handbag",
    "tie",
    "suitcase",
    "frisbee",
    "skis",
    "snowboard",
    "sports ball",
    "kite",
    "baseball bat",
    "baseball glove",
    "skateboard",
    "surfboard",
    "tennis racket",
    "bottle",
    "wine glass",
    "cup",
    "fork",
    "knife",
    "spoon",
    "bowl",
    "banana",
    "apple",
    "sandwich",
    "orange",
    "broccoli",
    "carrot",
    "hot dog",
    "pizza",
    "donut",
    "cake",
    "chair",
    "couch",
    "potted plant",
    "bed",
    "dining table",
    "toilet",
    "tv",
    "laptop",
    "mouse",
    "remote",
    "keyboard",
    "cell phone",
    "microwave",
    "oven",
    "toaster",
    "sink",
    "refrigerator",
    "book",
    "clock",
    "vase",
    "scissors",
    "teddy bear",
    "hair drier",
    "toothbrush",
];

/// The name of a COCO class id, `None` past the last class.
pub fn class_name(class_id: usize) -> Option<&'static str> {
    CLASS_NAMES.get(class_id).copied()
}

/// The group of a COCO class id, `None` for classes the detector drops (see the module docs).
pub fn group_of(class_id: usize) -> Option<ObjectGroup> {
    match class_id {
        0 => Some(ObjectGroup::Person),
        // bicycle, car, motorcycle | bus, train, truck (4 = airplane is not road traffic)
        1..=3 | 5..=7 => Some(ObjectGroup::Vehicle),
        // traffic light, fire hydrant, stop sign, parking meter, bench,
        // bird, cat, dog, horse, sheep, cow, elephant, bear, zebra, giraffe | suitcase
        9..=23 | 28 => Some(ObjectGroup::Obstacle),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_follow_the_names() {
        let group = |name: &str| {
            CLASS_NAMES
                .iter()
                .position(|n| *n == name)
                .and_then(group_of)
        };
        for name in ["bicycle", "car", "motorcycle", "bus", "train", "truck"] {
            assert_eq!(group(name), Some(ObjectGroup::Vehicle), "{name}");
        }
        assert_eq!(group("person"), Some(ObjectGroup::Person));
        for name in [
            "traffic light",
            "fire hydrant",
            "stop sign",
            "parking meter",
            "bench",
            "bird",
            "dog",
            "giraffe",
            "suitcase",
        ] {
            assert_eq!(group(name), Some(ObjectGroup::Obstacle), "{name}");
        }
        for name in [
            "airplane", "boat", "backpack", "umbrella", "handbag", "laptop",
        ] {
            assert_eq!(group(name), None, "{name}");
        }
        assert_eq!(group_of(NUM_CLASSES), None);
        assert_eq!(class_name(79), Some("toothbrush"));
        assert_eq!(class_name(80), None);
    }
}
