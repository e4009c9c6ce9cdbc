//! Keyset paging, one shape for every list: `{"items": [...], "next_cursor": "..."}`. A handler reads one row more
//! than the page holds (`limit + 1`) and [`Page::from_rows`] turns that into the page and the cursor of its last
//! item, absent on the last page.

use serde::Serialize;
use utoipa::ToSchema;

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// From the rows read with `LIMIT limit + 1`: at most `limit` items, and `cursor(last item)` when the extra row
    /// shows that another page follows.
    pub fn from_rows(mut rows: Vec<T>, limit: i64, cursor: impl FnOnce(&T) -> String) -> Self {
        let limit = usize::try_from(limit).unwrap_or(0);
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next_cursor = if more { rows.last().map(cursor) } else { None };
        Self {
            items: rows,
            next_cursor,
        }
    }

    /// The same page with every item converted.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_extra_row_means_another_page() {
        let page = Page::from_rows(vec![1, 2, 3], 2, |n| format!("c{n}"));
        assert_eq!(page.items, [1, 2]);
        assert_eq!(page.next_cursor.as_deref(), Some("c2"));
        let last = Page::from_rows(vec![1, 2], 2, |n| format!("c{n}"));
        assert_eq!(last.next_cursor, None);
        assert_eq!(
            serde_json::to_value(&last).unwrap(),
            serde_json::json!({"items": [1, 2]})
        );
        let empty = Page::<i32>::from_rows(vec![], 5, |n| n.to_string());
        assert!(empty.items.is_empty() && empty.next_cursor.is_none());
        assert_eq!(page.map(|n| n * 10).items, [10, 20]);
    }
}
