//! CLIP tokenizer on strings with known reference ids, truncation and SVO alignment.

use saclip_model::{ClipTokenizer, ModelError, TokenSpan};

#[test]
fn known_strings_match_openai_reference_ids() {
    let tok = ClipTokenizer::new(77);
    // Ids from OpenAI's reference tokenizer (open_clip's tokenizer.py).
    assert_eq!(
        tok.bpe("A red car is parked to the left of a white truck!"),
        [
            320, 736, 1615, 533, 16487, 531, 518, 1823, 539, 320, 1579, 4629, 256
        ]
    );
    assert_eq!(tok.encode("Hi there"), [49406, 1883, 997, 49407]);
    assert_eq!(tok.encode(""), [49406, 49407]);
}

#[test]
fn long_text_is_truncated_with_end_token_last() {
    let tok = ClipTokenizer::new(77);
    let long = "car ".repeat(200);
    let ids = tok.encode(&long);
    assert_eq!(ids.len(), 77);
    assert_eq!(ids[0], 49406);
    assert_eq!(ids[76], 49407);
    let batch = tok.encode_batch(&["a car", &long]);
    assert_eq!(batch.size(), [2, 77]);
    // Short rows are zero-padded after their end token.
    assert_eq!(batch.int64_value(&[0, 3]), 49407);
    assert_eq!(batch.int64_value(&[0, 4]), 0);
}

#[test]
fn svo_spans_cover_multi_word_relations_and_repeated_nouns() {
    let tok = ClipTokenizer::new(77);
    let caption = "a red car is parked in front of another car";
    let s = tok
        .svo_spans(caption, "red car", "parked in front of", "car")
        .expect("found");
    // ids: [sot, a, red, car, is, parked, in, front, of, another, car, eot]
    assert_eq!(s.subject, TokenSpan { start: 2, end: 4 });
    assert_eq!(s.relation, TokenSpan { start: 5, end: 9 });
    // The object is the car after the relation, not the subject's car.
    assert_eq!(s.object, TokenSpan { start: 10, end: 11 });
    let masks = s.masks(12);
    assert_eq!(masks.iter().sum::<f32>(), 2.0 + 4.0 + 1.0);
    assert_eq!(masks[12 + 5], 1.0);
}

#[test]
fn svo_spans_of_multi_token_words() {
    let tok = ClipTokenizer::new(77);
    // "motorcyclist" is several BPE tokens.
    let n = tok.bpe("motorcyclist").len();
    assert!(n > 1, "expected a multi-token word, got {n}");
    let s = tok
        .svo_spans(
            "a motorcyclist overtakes a bus",
            "motorcyclist",
            "overtakes",
            "bus",
        )
        .expect("found");
    assert_eq!(s.subject.end - s.subject.start, n);
}

#[test]
fn missing_part_is_a_clear_error() {
    let tok = ClipTokenizer::new(77);
    let err = tok
        .svo_spans("a car hits a pedestrian", "car", "hits", "truck")
        .expect_err("no truck");
    assert!(
        matches!(err, ModelError::SvoNotFound { part: "object", .. }),
        "{err}"
    );
    assert!(err.to_string().contains("\"truck\""), "{err}");
}

#[test]
fn svo_spans_from_byte_ranges_match_the_word_search() {
    let tok = ClipTokenizer::new(77);
    let caption = "a red car is parked in front of another car";
    let at = |part: &str, from: usize| {
        let start = caption[from..].find(part).expect("part") + from;
        start..start + part.len()
    };
    let subj = at("red car", 0);
    let rel = at("parked in front of", subj.end);
    let obj = at("car", rel.end);
    let by_range = tok.svo_spans_at(caption, [subj, rel, obj]).expect("ranges");
    let by_words = tok
        .svo_spans(caption, "red car", "parked in front of", "car")
        .expect("words");
    assert_eq!(by_range, by_words);
    // The object range selects the second "car", which a word search would only find in order.
    assert_eq!(by_range.object, TokenSpan { start: 10, end: 11 });

    // A range cutting a word, an empty range and a range past the end are refused.
    let err = tok
        .svo_spans_at(caption, [2..5, 13..19, 8..9])
        .expect_err("cut word");
    assert!(err.to_string().contains("word boundaries"), "{err}");
    assert!(tok.svo_spans_at(caption, [2..2, 13..19, 40..43]).is_err());
    assert!(tok.svo_spans_at(caption, [2..9, 13..19, 40..99]).is_err());
}
