//! The echo bot's handler, shared by `echo_bot` (a real server) and `demo` (the same bot against the
//! built-in simulator), so the demo shows exactly the code that runs against WeCom.

use async_trait::async_trait;
use wxkf_axum::bot::{Handler, HandlerError, ReplyContext};
use wxkf_types::message::{Event, Message, MessageContent};

/// The welcome text sent on `enter_session`.
pub(crate) const WELCOME: &str = "您好，我是 wxkf 回声机器人：您发什么，我就回什么。";

/// Echoes texts (long ones arrive split at 2,048 bytes on character boundaries), sends images back,
/// and welcomes customers who enter the chat.
pub(crate) struct Echo;

#[async_trait]
impl Handler for Echo {
    async fn on_customer_message(&self, ctx: &ReplyContext, msg: &Message) -> Result<(), HandlerError> {
        match &msg.content {
            MessageContent::Text(t) => ctx.reply_text(&t.content).await?,
            MessageContent::Image(image) => {
                // download the customer's image and send it back: upload, then send
                let download = ctx.client().media().get(&image.media_id).await?;
                let name = download.meta.filename.clone().unwrap_or_else(|| "echo.jpg".to_owned());
                ctx.reply_image(&name, download.bytes).await?;
            }
            _ => ctx.reply_text("这种消息我还不会回声，请发文字或图片。").await?,
        }
        Ok(())
    }

    async fn on_event(&self, ctx: &ReplyContext, _msg: &Message, event: &Event) -> Result<(), HandlerError> {
        if let Event::EnterSession(_) = event
            && ctx.welcome_code().is_some()
        {
            ctx.send_welcome_text(WELCOME).await?;
        }
        Ok(())
    }
}
