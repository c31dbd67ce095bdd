//! Every argument of `#[traced]`, alone and together.
use observe_core::traced;

#[derive(Debug, Clone)]
struct Cart {
    items: Vec<String>,
}

#[derive(Debug)]
struct Failure;

#[traced(name = "renamed")]
fn named() {}

#[traced(level = "trace")]
fn trace_level() {}

#[traced(level = "DEBUG")]
fn debug_level() {}

#[traced(level = "warn", kind = "client")]
fn warn_client() {}

#[traced(level = "error", kind = "server")]
fn error_server() {}

#[traced(kind = "producer")]
fn producer() {}

#[traced(kind = "consumer")]
fn consumer() {}

#[traced(kind = "internal")]
fn internal() {}

#[traced(fields(
    user = %user,
    items = cart.items.len(),
    first = ?cart.items.first(),
    http.request.method = "GET",
    "quoted.key" = true,
    r#type = "raw",
    borrowed = user,
    owned = String::from("s"),
    big = u128::MAX,
))]
fn with_fields(user: &str, cart: &Cart) -> usize {
    cart.items.len()
}

#[traced(args(id, %user, ?cart))]
fn with_args(id: u64, user: &str, cart: Cart) -> Cart {
    let _ = (id, user);
    cart
}

#[traced(err(Debug))]
fn err_debug(fail: bool) -> Result<(), Failure> {
    if fail { Err(Failure) } else { Ok(()) }
}

#[traced(err(Display))]
fn err_display(fail: bool) -> Result<(), String> {
    if fail { Err("failed".into()) } else { Ok(()) }
}

type Outcome = Result<u8, std::io::Error>;

// `err` accepts a `Result` under an alias whose name does not say so.
#[traced(err)]
fn aliased() -> Outcome {
    Ok(1)
}

#[traced(ret)]
fn ret_debug() -> Vec<u8> {
    vec![1]
}

#[traced(ret(Display))]
fn ret_display() -> String {
    "done".into()
}

#[traced(
    name = "everything",
    level = "debug",
    kind = "client",
    fields(n = 1),
    args(a),
    err(Debug),
    ret,
    side_effect,
    crate = observe_core,
)]
async fn everything(a: u8) -> Result<u8, Failure> {
    Ok(a)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    named();
    trace_level();
    debug_level();
    warn_client();
    error_server();
    producer();
    consumer();
    internal();
    let cart = Cart { items: vec!["a".into()] };
    assert_eq!(with_fields("ada", &cart), 1);
    assert_eq!(with_args(1, "ada", cart).items.len(), 1);
    assert!(err_debug(true).is_err() && err_debug(false).is_ok());
    assert!(err_display(true).is_err() && err_display(false).is_ok());
    assert_eq!(aliased().unwrap(), 1);
    assert_eq!(ret_debug(), vec![1]);
    assert_eq!(ret_display(), "done");
    assert_eq!(everything(3).await.unwrap(), 3);
}
