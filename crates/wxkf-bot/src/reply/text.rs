//! Splitting long replies into pieces WeCom accepts.

/// Splits `text` into pieces of at most `max_bytes` bytes each, cutting only between UTF-8
/// characters, in order. An empty text gives no pieces. A `max_bytes` below 4 is treated as 4
/// (the longest character).
///
/// ```
/// let text = "你".repeat(1000);
/// let parts = wxkf_bot::split_text(&text, 2048);
/// assert_eq!(parts.len(), 2);
/// assert_eq!(parts[0].len(), 2046); // 682 characters of 3 bytes
/// assert_eq!(parts.concat(), text);
/// ```
pub fn split_text(text: &str, max_bytes: usize) -> Vec<&str> {
    let max = max_bytes.max(4);
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        if rest.len() <= max {
            out.push(rest);
            break;
        }
        let mut cut = max;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let (head, tail) = rest.split_at(cut);
        out.push(head);
        rest = tail;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_character_boundaries_in_order() {
        let text: String = "一二三四五六七八九十".chars().cycle().take(5000 / 3 + 1).collect();
        let parts = split_text(&text, 2048);
        assert!(parts.iter().all(|p| p.len() <= 2048 && !p.is_empty()));
        assert_eq!(parts.concat(), text);
        let mixed = "a😀".repeat(700);
        let parts = split_text(&mixed, 2048);
        assert!(parts.iter().all(|p| p.len() <= 2048));
        assert_eq!(parts.concat(), mixed);
        assert!(split_text("", 2048).is_empty());
        assert_eq!(split_text("abc", 2048), vec!["abc"]);
    }
}
