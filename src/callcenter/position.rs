//! Line and column of a byte offset in the call-center file, for error messages.

use std::cell::Cell;
use std::fmt;

/// A 1-based line and column; the column counts characters, not bytes, so it matches what an
/// editor shows for non-ASCII text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// Offsets of line starts, so each position costs a binary search instead of a rescan. The
/// last answer is kept: positions are asked in increasing order, and counting columns from it
/// keeps a long single-line file linear instead of quadratic.
#[derive(Debug, Clone)]
pub(crate) struct LineIndex<'a> {
    text: &'a str,
    line_starts: Vec<usize>,
    last: Cell<(usize, Position)>,
}

impl<'a> LineIndex<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self {
            text,
            line_starts,
            last: Cell::new((0, Position { line: 1, column: 1 })),
        }
    }

    /// The position of byte `offset`; offsets past the end or inside a character are clamped.
    pub(crate) fn position(&self, offset: usize) -> Position {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.line_starts.partition_point(|&start| start <= offset);
        let line_start = self.line_starts[line - 1];
        let (last_offset, last) = self.last.get();
        let column = if last.line == line && last_offset <= offset {
            last.column + self.text[last_offset..offset].chars().count()
        } else {
            self.text[line_start..offset].chars().count() + 1
        };
        let position = Position { line, column };
        self.last.set((offset, position));
        position
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_columns_are_one_based_and_count_characters() {
        let index = LineIndex::new("ab\nçd\n\nx");
        assert_eq!(index.position(0), Position { line: 1, column: 1 });
        assert_eq!(index.position(2), Position { line: 1, column: 3 });
        assert_eq!(index.position(3), Position { line: 2, column: 1 });
        // 'ç' is two bytes: 'd' is the second character of line 2.
        assert_eq!(index.position(5), Position { line: 2, column: 2 });
        assert_eq!(index.position(7), Position { line: 3, column: 1 });
        assert_eq!(index.position(8), Position { line: 4, column: 1 });
        assert_eq!(index.position(100), Position { line: 4, column: 2 });
        // Asked out of order, the answers are the same.
        assert_eq!(index.position(5), Position { line: 2, column: 2 });
        assert_eq!(index.position(4), Position { line: 2, column: 1 });
        assert_eq!(index.position(6), Position { line: 2, column: 3 });
    }
}
