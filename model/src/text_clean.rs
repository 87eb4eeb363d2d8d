//! The text clean-up CLIP's reference tokenizer applies before BPE: ftfy's `fix_text` steps
//! that matter for captions (HTML entities, terminal escapes, Latin ligatures, full-width
//! characters, curly quotes, line breaks, control characters, NFC), then HTML unescaping twice.
//! ftfy's mojibake repair is not reproduced: captions that need it tokenize as they are.

use std::sync::LazyLock;

use regex::Regex;
use unicode_normalization::UnicodeNormalization;

/// ANSI terminal escape sequences, which ftfy removes.
static TERMINAL_ESCAPE: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new("\u{1b}\\[(?:\\d|;)*[a-zA-Z]").ok());

/// Cleans `text` the way OpenAI's tokenizer does before lowercasing and BPE.
pub(crate) fn clean(text: &str) -> String {
    // ftfy unescapes HTML only when the text does not look like HTML itself.
    let mut s = if text.contains('<') {
        text.to_string()
    } else {
        unescape(text)
    };
    if let Some(re) = TERMINAL_ESCAPE.as_ref() {
        s = re.replace_all(&s, "").into_owned();
    }
    let mut fixed = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                // \r\n and a lone \r are both one line break.
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                fixed.push('\n');
            }
            '\u{2028}' | '\u{2029}' | '\u{85}' => fixed.push('\n'),
            '\u{2018}'..='\u{201b}' | '\u{2bc}' => fixed.push('\''),
            '\u{201c}'..='\u{201f}' => fixed.push('"'),
            '\u{3000}' => fixed.push(' '),
            '\u{ff01}'..='\u{ffef}' => fixed.extend(c.to_string().nfkc()),
            c if is_removed_control(c) => {}
            c => match ligature(c) {
                Some(expanded) => fixed.push_str(expanded),
                None => fixed.push(c),
            },
        }
    }
    let nfc: String = fixed.nfc().collect();
    unescape(&unescape(&nfc)).trim().to_string()
}

fn unescape(s: &str) -> String {
    html_escape::decode_html_entities(s).into_owned()
}

/// Control characters ftfy deletes (tabs and line feeds stay).
fn is_removed_control(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{8}' | '\u{b}' | '\u{e}'..='\u{1f}' | '\u{7f}'
        | '\u{206a}'..='\u{206f}' | '\u{feff}' | '\u{fff9}'..='\u{fffb}'
        | '\u{e0000}'..='\u{e007f}')
}

/// ftfy's expansions of Latin ligatures and digraph letters.
fn ligature(c: char) -> Option<&'static str> {
    Some(match c {
        'Ĳ' => "IJ",
        'ĳ' => "ij",
        'ŉ' => "ʼn",
        'Ǳ' => "DZ",
        'ǲ' => "Dz",
        'ǳ' => "dz",
        'Ǆ' => "DŽ",
        'ǅ' => "Dž",
        'ǆ' => "dž",
        'Ǉ' => "LJ",
        'ǈ' => "Lj",
        'ǉ' => "lj",
        'Ǌ' => "NJ",
        'ǋ' => "Nj",
        'ǌ' => "nj",
        'ﬀ' => "ff",
        'ﬁ' => "fi",
        'ﬂ' => "fl",
        'ﬃ' => "ffi",
        'ﬄ' => "ffl",
        'ﬅ' => "ſt",
        'ﬆ' => "st",
        _ => return None,
    })
}
