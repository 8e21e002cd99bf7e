//! The one forgiving step before the strict grammar (DESIGN.md style example 6): NFKC folding
//! (Unicode UAX #15) so full-width digits, letters and punctuation (`１３８`, `：`, `，`, U+3000)
//! become ASCII, curly/CJK quotes become `"`, control and zero-width characters go, and every run
//! of whitespace becomes one space. Case is kept: keywords are matched case-insensitively by the
//! grammar and free text (statuses, display names) keeps what the subscriber typed.

use unicode_normalization::UnicodeNormalization;

/// Returns `text` folded (NFKC), with quotes unified, invisible characters dropped, whitespace
/// runs collapsed to one ASCII space, and trimmed.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    for c in text.nfkc() {
        let c = match c {
            '\u{201c}' | '\u{201d}' | '\u{201e}' | '\u{300c}' | '\u{300d}' | '\u{300e}'
            | '\u{300f}' => '"',
            // Zero-width characters and the BOM are dropped outright.
            '\u{200b}' | '\u{200c}' | '\u{200d}' | '\u{2060}' | '\u{feff}' => continue,
            other => other,
        };
        if c.is_whitespace() {
            pending_space = true;
            continue;
        }
        if c.is_control() {
            continue;
        }
        if pending_space && !out.is_empty() {
            out.push(' ');
        }
        pending_space = false;
        out.push(c);
    }
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
        assert_eq!(normalize("“开会中，稍后回电”"), "\"开会中,稍后回电\"");
        assert_eq!(normalize("HE\u{200b}LP\u{0}"), "HELP");
        assert_eq!(normalize("\u{feff}TD"), "TD");
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
