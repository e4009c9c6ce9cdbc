//! Which event becomes which email, rendered from the templates in `templates/` (minijinja; `.html` templates are
//! HTML-escaped automatically).

use minijinja::{Environment, context};
use switchyard_events::{CloudEvent, DecodeError, identity::UserRegistered, tasks::TaskCompleted};
use switchyard_mail::{AddressError, EmailAddress};

/// A rendered email for one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    /// Template name, stored with the outbound row (`welcome`, `task_completed`).
    pub template: &'static str,
    pub recipient: EmailAddress,
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Why an event cannot become an email (it never will: the message is dead-lettered).
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("recipient {raw:?} is not an address: {source}")]
    Recipient {
        raw: String,
        #[source]
        source: AddressError,
    },
    #[error("rendering template {template}: {source}")]
    Render {
        template: &'static str,
        #[source]
        source: minijinja::Error,
    },
}

const TEMPLATES: &[(&str, &str)] = &[
    (
        "welcome.subject.txt",
        include_str!("../templates/welcome.subject.txt"),
    ),
    ("welcome.txt", include_str!("../templates/welcome.txt")),
    ("welcome.html", include_str!("../templates/welcome.html")),
    (
        "task_completed.subject.txt",
        include_str!("../templates/task_completed.subject.txt"),
    ),
    (
        "task_completed.txt",
        include_str!("../templates/task_completed.txt"),
    ),
    (
        "task_completed.html",
        include_str!("../templates/task_completed.html"),
    ),
];

/// The compiled templates.
#[derive(Debug)]
pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    /// Compiles every template; a syntax error fails the worker's start, not a message.
    pub fn load() -> Result<Self, minijinja::Error> {
        let mut env = Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        for (name, source) in TEMPLATES {
            env.add_template(name, source)?;
        }
        Ok(Self { env })
    }

    /// The email an event asks for; `None` for event types the mailer does not send anything for.
    pub fn compose(&self, event: &CloudEvent) -> Result<Option<Email>, ComposeError> {
        if event.is::<UserRegistered>() {
            let e: UserRegistered = event.decode()?;
            let ctx = context! { display_name => e.display_name, email => e.email };
            return self.render("welcome", &e.email, ctx).map(Some);
        }
        if event.is::<TaskCompleted>() {
            let e: TaskCompleted = event.decode()?;
            let ctx = context! { title => e.title, task_id => e.task_id.to_string() };
            return self.render("task_completed", &e.owner_email, ctx).map(Some);
        }
        Ok(None)
    }

    fn render(
        &self,
        template: &'static str,
        recipient: &str,
        ctx: minijinja::Value,
    ) -> Result<Email, ComposeError> {
        let recipient =
            EmailAddress::parse(recipient).map_err(|source| ComposeError::Recipient {
                raw: recipient.to_owned(),
                source,
            })?;
        let render = |suffix: &str| {
            self.env
                .get_template(&format!("{template}.{suffix}"))
                .and_then(|t| t.render(&ctx))
                .map_err(|source| ComposeError::Render { template, source })
        };
        Ok(Email {
            template,
            recipient,
            subject: render("subject.txt")?.trim().to_owned(),
            text: render("txt")?,
            html: render("html")?,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use uuid::Uuid;

    use super::*;

    #[test]
    fn welcome_and_task_completed_are_rendered_and_escaped() {
        let t = Templates::load().unwrap();
        let welcome = CloudEvent::new(&UserRegistered {
            user_id: Uuid::now_v7(),
            email: " Jane <Jane@Example.com>".into(),
            display_name: "Jane <script>".into(),
        })
        .unwrap();
        let email = t.compose(&welcome).unwrap().unwrap();
        assert_eq!(email.template, "welcome");
        assert_eq!(email.recipient.as_str(), "jane@example.com");
        assert_eq!(email.subject, "Welcome to Switchyard, Jane <script>");
        assert!(email.text.contains("Hello Jane <script>,"));
        assert!(
            email.html.contains("Hello Jane &lt;script&gt;,"),
            "{}",
            email.html
        );

        let task_id = Uuid::now_v7();
        let done = CloudEvent::new(&TaskCompleted {
            task_id,
            owner_id: Uuid::now_v7(),
            owner_email: "o@example.com".into(),
            title: "Ship it".into(),
        })
        .unwrap();
        let email = t.compose(&done).unwrap().unwrap();
        assert_eq!(email.subject, "Task completed: Ship it");
        assert!(email.text.contains(&task_id.to_string()));
    }

    #[test]
    fn other_events_and_bad_data() {
        let t = Templates::load().unwrap();
        let other = CloudEvent::untyped(
            "switchyard.tasks.task.created.v1",
            "/t",
            None,
            serde_json::json!({}),
        );
        assert!(t.compose(&other).unwrap().is_none());
        let bad = CloudEvent::untyped(
            "switchyard.identity.user.registered.v1",
            "/i",
            None,
            serde_json::json!({"user_id": Uuid::now_v7(), "email": "nope", "display_name": "x"}),
        );
        assert!(matches!(
            t.compose(&bad),
            Err(ComposeError::Recipient { .. })
        ));
        let garbage = CloudEvent::untyped(
            "switchyard.identity.user.registered.v1",
            "/i",
            None,
            serde_json::json!(1),
        );
        assert!(matches!(t.compose(&garbage), Err(ComposeError::Decode(_))));
    }
}
