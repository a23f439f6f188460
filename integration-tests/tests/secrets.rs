//! Passwords in store URLs never reach an error, a log line or an answer: each store is opened
//! with a wrong password (or an unreachable server) and what comes back is searched for it.

use rsched::Config;

const SECRET: &str = "hunter2-Secret";

fn urls() -> Vec<String> {
    vec![
        // Nothing listens there: a connection error.
        format!("postgres://postgres:{SECRET}@127.0.0.1:1/test?connect_timeout=2"),
        // A server that refuses the user.
        format!("postgres://no_such_user_rsched:{SECRET}@127.0.0.1:5432/test"),
        format!("postgres://no_such_user_rsched@127.0.0.1:5432/test?password={SECRET}"),
        format!("mysql://no_such_user_rsched:{SECRET}@127.0.0.1:3306/test"),
        // Percent-encoded: neither form may appear.
        format!("mysql://no_such_user_rsched:{SECRET}%40x@127.0.0.1:3306/test"),
        format!("redis://:{SECRET}@127.0.0.1:6379/"),
        format!("redis://:{SECRET}@[not-a-host/"),
        format!("mongodb://u:{SECRET}@127.0.0.1:1/x?serverSelectionTimeoutMS=300"),
        format!("mongodb://u:{SECRET}@bad host/"),
        format!("memory://u:{SECRET}@x/?history=maybe"),
    ]
}

fn assert_clean(what: &str, text: &str) {
    assert!(
        !text.contains(SECRET) && !text.contains("hunter2"),
        "{what} shows the password: {text}"
    );
}

#[tokio::test]
async fn store_errors_never_show_the_password() {
    for url in urls() {
        match rsched::store_from_url(&url).await {
            Ok(_) => {
                // Only the memory store opens whatever its userinfo says.
                assert!(url.starts_with("memory://"), "{url} opened");
            }
            Err(e) => {
                assert_clean(&url, &e.to_string());
                assert_clean(&url, &format!("{e:?}"));
            }
        }
        let config = Config::parse(&format!("[jobstores.default]\nurl = \"{url}\"\n")).unwrap();
        assert_clean(&url, &format!("{config:?}"));
        if let Err(e) = config
            .build_scheduler(rsched::registry_with_builtins())
            .await
        {
            assert_clean(&url, &e.to_string());
            assert_clean(&url, &format!("{e:?}"));
        }
    }
}
