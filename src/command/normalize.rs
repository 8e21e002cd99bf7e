//! The one forgiving step before the strict grammar (DESIGN.md style example 6): NFKC folding
//! (Unicode UAX #15) so full-width digits, letters and punctuation (`１３８`, `：`, `，`, U+3000)
//! become ASCII, curly, CJK and full-width quotes become `"`, control and zero-width characters
//! go, and every run of whitespace becomes one space. Case is kept: keywords are matched
//! case-insensitively by the grammar and free text (statuses, display names) keeps what the
//! subscriber typed.

use unicode_normalization::UnicodeNormalization;

/// The quote characters, all read as `"` (the full-width `＂`, U+FF02, is one too: NFKC folds
/// it to `"` only after [`normalize`] has decided what is inside quotes).
fn is_quote(c: char) -> bool {
    matches!(
        c,
        '"' | '\u{ff02}'
            | '\u{201c}'
            | '\u{201d}'
            | '\u{201e}'
            | '\u{300c}'
            | '\u{300d}'
            | '\u{300e}'
            | '\u{300f}'
    )
}

/// Full-width punctuation kept as typed inside quotes: there it means nothing to the grammar
/// (a quoted status may hold commas) and is part of the text contacts read
/// (`"开会中，稍后回电"` stays with its Chinese comma; folded, it read `开会中,稍后回电`).
fn kept_in_quotes(c: char) -> bool {
    matches!(c, '，' | '；' | '：' | '？' | '！' | '（' | '）' | '～')
}

/// Returns `text` folded (NFKC), with quotes unified, invisible characters dropped, whitespace
/// runs collapsed to one ASCII space, and trimmed. Inside quotes, full-width punctuation is kept
/// ([`kept_in_quotes`]).
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    let mut quoted = false;
    let mut run = String::new();
    let push = |c: char, out: &mut String, pending_space: &mut bool| {
        let c = if is_quote(c) { '"' } else { c };
        match c {
            // Zero-width characters and the BOM are dropped outright.
            '\u{200b}' | '\u{200c}' | '\u{200d}' | '\u{2060}' | '\u{feff}' => return,
            c if c.is_whitespace() => {
                *pending_space = true;
                return;
            }
            c if c.is_control() => return,
            _ => {}
        }
        if *pending_space && !out.is_empty() {
            out.push(' ');
        }
        *pending_space = false;
        out.push(c);
    };
    // NFKC runs between the characters kept as typed (folding works on a run, so combining
    // sequences compose as in the whole text; no sequence spans a punctuation mark).
    let flush = |run: &mut String, out: &mut String, pending_space: &mut bool| {
        for c in run.nfkc() {
            push(c, out, pending_space);
        }
        run.clear();
    };
    for c in text.chars() {
        if quoted && kept_in_quotes(c) {
            flush(&mut run, &mut out, &mut pending_space);
            push(c, &mut out, &mut pending_space);
            continue;
        }
        if is_quote(c) {
            quoted = !quoted;
        }
        run.push(c);
    }
    flush(&mut run, &mut out, &mut pending_space);
    out
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn full_width_forms_fold_to_ascii() {
        assert_eq!(normalize("１３８００１３８０００"), "13800138000");
        assert_eq!(normalize("到１５：００"), "到15:00");
        assert_eq!(normalize("ＳＴＡＴＵＳ　家人，同事；"), "STATUS 家人,同事;");
        assert_eq!(normalize("？"), "?");
    }

    #[test]
    fn whitespace_runs_become_one_space_and_ends_are_trimmed() {
        assert_eq!(
            normalize("  STATUS\t\tFAMILY \n\r FREE  "),
            "STATUS FAMILY FREE"
        );
        assert_eq!(normalize("\u{3000}\u{3000}帮助\u{3000}"), "帮助");
        assert_eq!(normalize(" \n\t "), "");
    }

    #[test]
    fn quotes_unify_and_invisible_characters_go() {
        // Inside quotes full-width punctuation is the subscriber's text, kept as typed.
        assert_eq!(normalize("“开会中，稍后回电”"), "\"开会中，稍后回电\"");
        assert_eq!(
            normalize("状态 家人 \"在哪？回电！\"，同事 忙"),
            "状态 家人 \"在哪？回电！\",同事 忙"
        );
        assert_eq!(normalize("HE\u{200b}LP\u{0}"), "HELP");
        assert_eq!(normalize("\u{feff}TD"), "TD");
    }

    #[test]
    fn full_width_quotes_keep_full_width_punctuation_inside_like_the_others() {
        assert_eq!(normalize("＂开会中，稍后回电＂"), "\"开会中，稍后回电\"");
        assert_eq!(
            normalize("状态 家人 ＂在哪？回电！＂，同事 忙"),
            "状态 家人 \"在哪？回电！\",同事 忙"
        );
        // Mixed with another quote character, as with `“` and `"`.
        assert_eq!(normalize("＂开会中，稍后回电\""), "\"开会中，稍后回电\"");
    }

    #[test]
    fn case_and_cjk_are_kept() {
        assert_eq!(
            normalize("Status Family 'At Gym'"),
            "Status Family 'At Gym'"
        );
        assert_eq!(normalize("状态 家人 开车"), "状态 家人 开车");
    }
}
