//! DRF `PageNumberPagination`: `?page=` (from 1) and `?page_size=` (default
//! 50, at most 200), answered as `{"count", "next", "previous", "results"}`
//! with absolute links that keep the other query parameters.
//!
//! As in DRF, a `page` that is not a page is a 404 `Invalid page.`, while a bad
//! `page_size` falls back to the default.

use axum::extract::FromRequestParts;
use axum::http::header::HOST;
use axum::http::request::Parts;
use serde::Serialize;
use utoipa::ToSchema;

use crate::chat::Window;
use crate::error::Error;

pub const DEFAULT_PAGE_SIZE: u64 = 50;
pub const MAX_PAGE_SIZE: u64 = 200;

#[derive(Serialize, ToSchema)]
pub struct Paginated<T> {
    pub count: u64,
    /// Absolute URL of the next page, or null.
    pub next: Option<String>,
    /// Absolute URL of the previous page, or null.
    pub previous: Option<String>,
    pub results: Vec<T>,
}

/// The requested page and what is needed to link its neighbours.
pub struct Pagination {
    page: u64,
    page_size: u64,
    url: RequestUrl,
}

/// The request's absolute URL as the client wrote it (host from `Host`,
/// `https` behind a proxy that says `X-Forwarded-Proto: https`): the base of
/// the links a list answers with.
pub struct RequestUrl(pub url::Url);

impl<S: Send + Sync> FromRequestParts<S> for RequestUrl {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Error> {
        let host = parts
            .headers
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| parts.uri.authority().map(|a| a.as_str()))
            .unwrap_or("localhost");
        let scheme = parts
            .headers
            .get("x-forwarded-proto")
            .and_then(|h| h.to_str().ok())
            .filter(|p| *p == "https")
            .unwrap_or("http");
        let uri = match parts.extensions.get::<axum::extract::OriginalUri>() {
            Some(original) => &original.0,
            None => &parts.uri,
        };
        let path_and_query = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let url = url::Url::parse(&format!("{scheme}://{host}{path_and_query}"))
            .map_err(|_| Error::BadRequest("Invalid Host header.".into()))?;
        Ok(Self(url))
    }
}

impl RequestUrl {
    /// The last value of a query parameter (Django's `QueryDict[key]`).
    pub fn param(&self, name: &str) -> Option<String> {
        last_param(&self.0, name)
    }

    /// This URL with the parameters in `replace` removed, then `set` appended.
    pub fn with(&self, replace: &[&str], set: &[(&str, String)]) -> String {
        let kept: Vec<(String, String)> = self
            .0
            .query_pairs()
            .filter(|(k, _)| !replace.contains(&k.as_ref()))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let mut url = self.0.clone();
        url.set_query(None);
        {
            let mut query = url.query_pairs_mut();
            for (k, v) in kept
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .chain(set.iter().map(|(k, v)| (*k, v.as_str())))
            {
                query.append_pair(k, v);
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        url.to_string()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Pagination {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        let RequestUrl(url) = RequestUrl::from_request_parts(parts, state).await?;
        let param = |name: &str| last_param(&url, name);
        let page = match param("page") {
            None => 1,
            Some(raw) => raw
                .parse::<u64>()
                .ok()
                .filter(|p| (1..=1_000_000_000).contains(p))
                .ok_or(Error::InvalidPage)?,
        };
        let page_size = param("page_size")
            .and_then(|raw| raw.parse::<u64>().ok())
            .filter(|size| *size > 0)
            .map_or(DEFAULT_PAGE_SIZE, |size| size.min(MAX_PAGE_SIZE));
        Ok(Self {
            page,
            page_size,
            url: RequestUrl(url),
        })
    }
}

/// The last value of a query parameter, as Django's `QueryDict[key]` gives it.
fn last_param(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs()
        .filter(|(k, _)| k == name)
        .last()
        .map(|(_, v)| v.into_owned())
}

/// The longest name searched: usernames (150) are longer than room names (100).
const SEARCH_MAX: usize = crate::chat::types::limits::USERNAME_MAX;

impl Pagination {
    /// Another query parameter of the same request (e.g. `search`); the last
    /// one wins when it is repeated.
    pub fn param(&self, name: &str) -> Option<String> {
        self.url.param(name)
    }

    /// The `?search=` term. NUL characters are refused, as DRF refuses them in
    /// text: SQLite's `LIKE` would stop reading the pattern at one. So is a
    /// term longer than any name it could match: SQLite refuses long
    /// patterns, and the work should stay bounded anyway.
    pub fn search(&self) -> Result<Option<String>, Error> {
        match self.param("search") {
            Some(term) if term.contains('\0') => Err(Error::field("search", "Null characters are not allowed.")),
            Some(term) if term.chars().count() > SEARCH_MAX => Err(Error::field(
                "search",
                format!("Ensure this value has at most {SEARCH_MAX} characters."),
            )),
            term => Ok(term),
        }
    }

    pub fn window(&self) -> Window {
        Window {
            offset: (self.page - 1) * self.page_size,
            limit: self.page_size,
        }
    }

    /// Wraps one page of results; a page past the end (other than the first) is a 404.
    pub fn respond<T>(&self, count: u64, results: Vec<T>) -> Result<Paginated<T>, Error> {
        let pages = count.div_ceil(self.page_size).max(1);
        if self.page > pages {
            return Err(Error::InvalidPage);
        }
        let next = (self.page < pages).then(|| self.link(Some(self.page + 1)));
        // Like DRF, the link to page 1 drops the `page` parameter.
        let previous = (self.page > 1).then(|| self.link((self.page > 2).then_some(self.page - 1)));
        Ok(Paginated {
            count,
            next,
            previous,
            results,
        })
    }

    fn link(&self, page: Option<u64>) -> String {
        let set: Vec<(&str, String)> = page.map(|p| ("page", p.to_string())).into_iter().collect();
        self.url.with(&["page"], &set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;

    async fn pagination(uri: &str) -> Result<Pagination, Error> {
        let (mut parts, _) = Request::builder()
            .uri(uri)
            .header(HOST, "chat.test")
            .body(())
            .unwrap()
            .into_parts();
        Pagination::from_request_parts(&mut parts, &()).await
    }

    #[tokio::test]
    async fn links_keep_other_parameters() {
        let p = pagination("/api/chat/rooms/?search=dev&page=2&page_size=10")
            .await
            .unwrap();
        assert_eq!(p.window().offset, 10);
        let page = p.respond(35, vec![1]).unwrap();
        assert_eq!(
            page.next.as_deref(),
            Some("http://chat.test/api/chat/rooms/?search=dev&page_size=10&page=3")
        );
        assert_eq!(
            page.previous.as_deref(),
            Some("http://chat.test/api/chat/rooms/?search=dev&page_size=10")
        );
    }

    #[tokio::test]
    async fn drf_edge_cases() {
        assert!(matches!(pagination("/x?page=abc").await, Err(Error::InvalidPage)));
        assert!(matches!(pagination("/x?page=0").await, Err(Error::InvalidPage)));
        assert!(matches!(pagination("/x?page=-1").await, Err(Error::InvalidPage)));
        let p = pagination("/x?page_size=abc").await.unwrap();
        assert_eq!(p.window().limit, DEFAULT_PAGE_SIZE);
        let p = pagination("/x?page_size=100000").await.unwrap();
        assert_eq!(p.window().limit, MAX_PAGE_SIZE);
        let p = pagination("/x?page_size=0").await.unwrap();
        assert_eq!(p.window().limit, DEFAULT_PAGE_SIZE);
        // Repeated parameters: the last one counts, as in Django.
        let p = pagination("/x?page=1&page=2&search=a&search=b").await.unwrap();
        assert_eq!(p.window().offset, DEFAULT_PAGE_SIZE);
        assert_eq!(p.param("search").as_deref(), Some("b"));
        // An empty list still has a first page; nothing beyond it.
        let p = pagination("/x").await.unwrap();
        let empty = p.respond(0, Vec::<u8>::new()).unwrap();
        assert_eq!((empty.next, empty.previous), (None, None));
        let p = pagination("/x?page=2").await.unwrap();
        assert!(matches!(p.respond(0, Vec::<u8>::new()), Err(Error::InvalidPage)));
    }
}
