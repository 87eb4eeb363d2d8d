//! Which detected boxes a description's subject and object are matched to.

use saclip_detector::{Detection, ObjectGroup};

/// The subject and object boxes for a description naming `groups`: the most confident
/// detection of the subject's group, and the most confident other detection of the object's
/// group. None when either is missing; the description is then matched to the whole frame.
pub fn choose_pair(
    detections: &[Detection],
    groups: (ObjectGroup, ObjectGroup),
) -> Option<(usize, usize)> {
    let best = |group: ObjectGroup, except: Option<usize>| {
        detections
            .iter()
            .enumerate()
            .filter(|(i, d)| d.group == group && Some(*i) != except)
            .max_by(|a, b| a.1.score.total_cmp(&b.1.score))
            .map(|(i, _)| i)
    };
    let subject = best(groups.0, None)?;
    let object = best(groups.1, Some(subject))?;
    Some((subject, object))
}
