//! `?` (with `From` conversions, into `Box<dyn Error>`, on `Option`) and early
//! `return`, sync and async.
use observe_core::traced;

#[derive(Debug)]
enum AppError {
    Parse(std::num::ParseIntError),
    Negative,
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

impl From<std::num::ParseIntError> for AppError {
    fn from(e: std::num::ParseIntError) -> Self {
        AppError::Parse(e)
    }
}

#[traced]
fn parse(s: &str) -> Result<i64, AppError> {
    let n: i64 = s.trim().parse()?;
    if n < 0 {
        return Err(AppError::Negative);
    }
    Ok(n)
}

#[traced]
fn boxed(s: &str) -> Result<u8, Box<dyn std::error::Error + Send + Sync>> {
    Ok(s.parse::<u8>()?)
}

#[traced]
fn io_result(path: &str) -> std::io::Result<usize> {
    if path.is_empty() {
        return Err(std::io::Error::other("empty path"));
    }
    Ok(path.len())
}

#[traced]
fn option(v: &[u8]) -> Option<u8> {
    let first = v.first()?;
    Some(*first + 1)
}

#[traced]
fn early(n: u32) -> u32 {
    if n == 0 {
        return 100;
    }
    for i in 0..n {
        if i == 3 {
            return i;
        }
    }
    n
}

#[traced]
async fn async_parse(s: String) -> Result<i64, AppError> {
    tokio::task::yield_now().await;
    let n = parse(&s)?;
    if n == 1 {
        return Ok(-1);
    }
    Ok(n)
}

#[traced]
async fn async_boxed(s: &str) -> Result<u8, Box<dyn std::error::Error>> {
    let n: u8 = s.parse()?;
    Ok(n)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(parse(" 4").unwrap(), 4);
    assert!(matches!(parse("-1"), Err(AppError::Negative)));
    assert!(matches!(parse("x"), Err(AppError::Parse(_))));
    assert!(boxed("300").is_err());
    assert_eq!(io_result("ab").unwrap(), 2);
    assert!(io_result("").is_err());
    assert_eq!(option(&[1]), Some(2));
    assert_eq!(option(&[]), None);
    assert_eq!((early(0), early(10), early(2)), (100, 3, 2));
    assert_eq!(async_parse("1".into()).await.unwrap(), -1);
    assert_eq!(async_boxed("9").await.unwrap(), 9);
}
