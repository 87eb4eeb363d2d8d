//! Which detected boxes a description's subject and object may be matched to.

use saclip_detector::{Detection, ObjectGroup};

/// The candidate (subject, object) pairs for a description naming `groups`: each of the `k`
/// most confident detections of the subject's group, paired with each of the `k` most
/// confident other detections of the object's group. The scorer keeps the pair whose features
/// match the description best; with no candidate the description is matched to the whole frame.
pub fn candidate_pairs(
    detections: &[Detection],
    groups: (ObjectGroup, ObjectGroup),
    k: usize,
) -> Vec<(usize, usize)> {
    let top = |group: ObjectGroup, except: Option<usize>| {
        let mut of: Vec<usize> = (0..detections.len())
            .filter(|&i| detections[i].group == group && Some(i) != except)
            .collect();
        // Stable: equal scores keep detection order, so the choice is deterministic.
        of.sort_by(|&a, &b| detections[b].score.total_cmp(&detections[a].score));
        of.truncate(k);
        of
    };
    top(groups.0, None)
        .into_iter()
        .flat_map(|s| top(groups.1, Some(s)).into_iter().map(move |o| (s, o)))
        .collect()
}
