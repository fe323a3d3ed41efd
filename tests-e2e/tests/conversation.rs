//! The conversation layer of wxkf-bot (issue 13, docs/ai-bot.md) end to end against the simulator:
//! one scenario per rule — turns, hand-off to people, placeholders, answers cut to the budget.
//!
//! Times are shortened with their ratios kept: the 5 s placeholder for a 20 s answer of the issue
//! is 0.5 s for a 2 s answer here, the 1.5 s quiet window 0.4 s.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use wxkf_axum::bot::{Bot, BotConfig, Handler, HandlerError, ReplyContext, ReplyError, Turn, async_trait};
use wxkf_sim::SimHandle;
use wxkf_types::message::{Message, MessageContent};
use wxkf_types::service_state::ServiceState;

mod support;
use support::Running;

const KF: &str = "wkCONV";
const WAIT: Duration = Duration::from_secs(10);

async fn sim() -> SimHandle {
    let sim = wxkf_sim::Sim::builder()
        .account(KF, "conv")
        .callback_timeout(Duration::from_secs(2))
        .start()
        .await
        .unwrap();
    sim.add_servicer(KF, "zhangsan");
    sim
}

async fn start(sim: &SimHandle, handler: impl Handler, config: BotConfig) -> Running {
    let running = support::serve(sim, |client| {
        Bot::builder(client, handler).memory_store().config(config).build().expect("valid bot config")
    })
    .await;
    // a start-up pull landing mid-scenario would teach the bot what a test keeps from it
    support::after_startup_pull(sim, &running).await;
    running
}

fn texts(sim: &SimHandle, user: &str) -> Vec<String> {
    sim.sent().iter().filter(|s| s.touser == user).filter_map(|s| s.text().map(str::to_owned)).collect()
}

fn refusals(sim: &SimHandle, code: i64) -> usize {
    sim.calls().iter().filter(|c| c.errcode == Some(code)).count()
}

fn text_of(msg: &Message) -> String {
    match &msg.content {
        MessageContent::Text(t) => t.content.clone(),
        _ => String::new(),
    }
}

/// Waits until `f` holds, or `WAIT` passes.
async fn until(mut f: impl FnMut() -> bool) -> bool {
    let end = tokio::time::Instant::now() + WAIT;
    while tokio::time::Instant::now() < end {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    f()
}

/// Answers each turn with one message naming how many messages it merged.
#[derive(Default, Clone)]
struct TurnCounter {
    turns: Arc<Mutex<Vec<Vec<String>>>>,
}

#[async_trait]
impl Handler for TurnCounter {
    async fn on_customer_message(&self, _ctx: &ReplyContext, _msg: &Message) -> Result<(), HandlerError> {
        Err("with turns on, on_turn is called instead".into())
    }

    async fn on_turn(&self, ctx: &ReplyContext, turn: &Turn) -> Result<(), HandlerError> {
        let texts: Vec<String> = turn.messages().iter().map(text_of).collect();
        self.turns.lock().unwrap().push(texts.clone());
        ctx.reply_text(&format!("{} messages: {}", texts.len(), texts.join(" / "))).await?;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_burst_is_one_turn_with_one_answer() {
    let sim = sim().await;
    let handler = TurnCounter::default();
    let config = BotConfig::default().with_turns(Duration::from_millis(400), Duration::from_secs(5));
    let bot = start(&sim, handler.clone(), config).await;
    let alice = sim.customer(KF, "wmALICE");
    for line in ["在吗", "你好", "我想问一下", "退款多久到账"] {
        alice.say(line);
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    alice.wait_for_replies(1, WAIT).await;
    // a further second: no second answer
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        texts(&sim, "wmALICE"),
        vec!["4 messages: 在吗 / 你好 / 我想问一下 / 退款多久到账".to_owned()]
    );
    assert_eq!(handler.turns.lock().unwrap().len(), 1, "one turn");
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_message_during_the_answer_goes_into_the_next_turn_or_cancels_it_when_configured() {
    /// Thinks 1 s per turn, then answers with what the turn held.
    #[derive(Clone, Default)]
    struct Slow(TurnCounter);
    #[async_trait]
    impl Handler for Slow {
        async fn on_customer_message(&self, _: &ReplyContext, _: &Message) -> Result<(), HandlerError> {
            Ok(())
        }
        async fn on_turn(&self, ctx: &ReplyContext, turn: &Turn) -> Result<(), HandlerError> {
            tokio::time::sleep(Duration::from_secs(1)).await;
            self.0.on_turn(ctx, turn).await
        }
    }
    for cancelling in [false, true] {
        let sim = sim().await;
        let handler = Slow::default();
        let turns = wxkf_axum::bot::TurnConfig::new(Duration::from_millis(200), Duration::from_secs(5));
        let turns = if cancelling { turns.cancelling() } else { turns };
        let bot = start(&sim, handler.clone(), BotConfig::default().with_turn_config(turns)).await;
        let alice = sim.customer(KF, "wmALICE");
        alice.say("第一个问题");
        // the first turn is being answered (quiet window over, 1 s thinking)
        tokio::time::sleep(Duration::from_millis(600)).await;
        alice.say("补充一句");
        let want = if cancelling { 1 } else { 2 };
        alice.wait_for_replies(want, WAIT).await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let got = texts(&sim, "wmALICE");
        if cancelling {
            assert_eq!(
                got,
                vec!["2 messages: 第一个问题 / 补充一句".to_owned()],
                "the stopped answer is never sent"
            );
        } else {
            assert_eq!(got, vec!["1 messages: 第一个问题".to_owned(), "1 messages: 补充一句".to_owned()]);
        }
        bot.stop().await;
    }
}

/// Thinks, then answers; records what its replies returned and what reached the hand-off hook.
#[derive(Clone, Default)]
struct Thinker {
    think: Duration,
    started: Arc<Mutex<usize>>,
    outcomes: Arc<Mutex<Vec<String>>>,
    handed_off: Arc<Mutex<Vec<(String, ServiceState)>>>,
}

#[async_trait]
impl Handler for Thinker {
    async fn on_customer_message(&self, ctx: &ReplyContext, msg: &Message) -> Result<(), HandlerError> {
        *self.started.lock().unwrap() += 1;
        tokio::time::sleep(self.think).await;
        let r = ctx.reply_text(&format!("AI: {}", text_of(msg))).await;
        self.outcomes.lock().unwrap().push(match &r {
            Ok(()) => "sent".to_owned(),
            Err(ReplyError::SessionLeftBot { state }) => format!("refused in state {}", u32::from(*state)),
            Err(e) => format!("other error: {e}"),
        });
        r.map_err(Into::into)
    }

    async fn on_handed_off_message(&self, msg: &Message, state: ServiceState) -> Result<(), HandlerError> {
        self.handed_off.lock().unwrap().push((text_of(msg), state));
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hand_off_while_the_handler_thinks_sends_nothing_and_meets_no_95018() {
    let sim = sim().await;
    let handler = Thinker { think: Duration::from_millis(1500), ..Default::default() };
    let bot = start(&sim, handler.clone(), BotConfig::default()).await;
    let alice = sim.customer(KF, "wmALICE");
    alice.say("我要退款");
    assert!(until(|| *handler.started.lock().unwrap() == 1).await, "the handler started");
    // a servicer takes the chat while the AI is still thinking
    let code = sim.servicer_takes(KF, "wmALICE", "zhangsan");
    assert!(!code.is_empty());
    assert!(until(|| !handler.outcomes.lock().unwrap().is_empty()).await);
    assert_eq!(*handler.outcomes.lock().unwrap(), vec!["refused in state 3".to_owned()]);
    // the customer writes to the servicer: the AI is not called, the hook is
    alice.say("人工客服你好");
    assert!(until(|| !handler.handed_off.lock().unwrap().is_empty()).await);
    assert_eq!(*handler.handed_off.lock().unwrap(), vec![("人工客服你好".to_owned(), ServiceState::Human)]);
    assert_eq!(*handler.started.lock().unwrap(), 1, "the AI handler ran only for the first message");
    bot.bot.idle().await;
    assert!(alice.replies().is_empty(), "no AI answer reached the customer: {:?}", alice.replies());
    assert_eq!(refusals(&sim, 95018), 0, "no send was refused with 95018");
    assert_eq!(sim.call_count("/cgi-bin/kf/send_msg"), 0, "nothing was even tried");
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn after_the_hand_back_the_bot_answers_again() {
    let sim = sim().await;
    let handler = Thinker::default();
    let bot = start(&sim, handler.clone(), BotConfig::default()).await;
    let alice = sim.customer(KF, "wmALICE");
    alice.say("一");
    alice.wait_for_replies(1, WAIT).await;
    sim.servicer_takes(KF, "wmALICE", "zhangsan");
    alice.say("二");
    assert!(until(|| handler.handed_off.lock().unwrap().len() == 1).await, "the hook got the message");
    sim.servicer_says(KF, "wmALICE", "zhangsan", "您好，我是人工客服");
    // the servicer hands back (ends the session); the customer's next message is the bot's again
    let closing = sim.servicer_ends(KF, "wmALICE");
    assert!(!closing.is_empty());
    alice.say("三");
    alice.wait_for_replies(2, WAIT).await;
    bot.bot.idle().await;
    assert_eq!(texts(&sim, "wmALICE"), vec!["AI: 一".to_owned(), "AI: 三".to_owned()]);
    assert_eq!(*handler.outcomes.lock().unwrap(), vec!["sent".to_owned(), "sent".to_owned()]);
    assert_eq!(*handler.handed_off.lock().unwrap(), vec![("二".to_owned(), ServiceState::Human)]);
    assert_eq!(refusals(&sim, 95018), 0);
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_bots_own_hand_off_to_the_pool_silences_it_and_its_code_sends_the_notice() {
    /// "转人工" hands the chat to the pool and says so with the msg_code; anything else is answered.
    #[derive(Clone, Default)]
    struct HandsOff(Thinker);
    #[async_trait]
    impl Handler for HandsOff {
        async fn on_customer_message(&self, ctx: &ReplyContext, msg: &Message) -> Result<(), HandlerError> {
            if text_of(msg) == "转人工" {
                let code = ctx.hand_to_pool().await?.ok_or("trans to the pool gives a msg_code")?;
                ctx.send_event_text(&code, "已为您转接人工客服，请稍候").await?;
                // a late reply of the same handler is refused locally
                let late = ctx.reply_text("AI 迟到的回答").await;
                assert!(
                    matches!(late, Err(ReplyError::SessionLeftBot { state: ServiceState::Queued })),
                    "{late:?}"
                );
                return Ok(());
            }
            self.0.on_customer_message(ctx, msg).await
        }
        async fn on_handed_off_message(
            &self,
            msg: &Message,
            state: ServiceState,
        ) -> Result<(), HandlerError> {
            self.0.on_handed_off_message(msg, state).await
        }
    }
    let sim = sim().await;
    let handler = HandsOff::default();
    let bot = start(&sim, handler.clone(), BotConfig::default()).await;
    let alice = sim.customer(KF, "wmALICE");
    alice.say("转人工");
    alice.wait_for_replies(1, WAIT).await;
    alice.say("有人吗");
    assert!(until(|| handler.0.handed_off.lock().unwrap().len() == 1).await);
    bot.bot.idle().await;
    assert_eq!(texts(&sim, "wmALICE"), vec!["已为您转接人工客服，请稍候".to_owned()]);
    assert!(sim.sent()[0].code.is_some(), "sent with send_msg_on_event");
    assert_eq!(*handler.0.handed_off.lock().unwrap(), vec![("有人吗".to_owned(), ServiceState::Queued)]);
    assert_eq!(refusals(&sim, 95018), 0);
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_answer_gets_the_placeholder_first_and_the_budget_holds() {
    const PLACEHOLDER: &str = "正在为您查询，请稍候…";
    let sim = sim().await;
    // 20 s answer, 5 s placeholder in the issue: the same 1:4 ratio, shortened
    let handler = Thinker { think: Duration::from_secs(2), ..Default::default() };
    let config = BotConfig::default().with_placeholder(Duration::from_millis(500), PLACEHOLDER);
    let bot = start(&sim, handler.clone(), config).await;
    let alice = sim.customer(KF, "wmALICE");
    alice.say("帮我查一下订单");
    let first = alice.wait_for_replies(1, Duration::from_millis(1500)).await;
    assert_eq!(
        first.first().and_then(|r| r.text()),
        Some(PLACEHOLDER),
        "the placeholder came before the answer"
    );
    alice.wait_for_replies(2, WAIT).await;
    bot.bot.idle().await;
    assert_eq!(texts(&sim, "wmALICE"), vec![PLACEHOLDER.to_owned(), "AI: 帮我查一下订单".to_owned()]);
    // a quick answer gets none
    let quick = Thinker::default();
    let sim2 = self::sim().await;
    let bot2 =
        start(&sim2, quick, BotConfig::default().with_placeholder(Duration::from_millis(500), PLACEHOLDER))
            .await;
    let bob = sim2.customer(KF, "wmBOB");
    bob.say("你好");
    bob.wait_for_replies(1, WAIT).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(texts(&sim2, "wmBOB"), vec!["AI: 你好".to_owned()]);
    assert_eq!(refusals(&sim, 95001) + refusals(&sim2, 95001), 0, "the budget was never exceeded");
    bot.stop().await;
    bot2.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_placeholder_never_takes_the_answers_last_slot() {
    const PLACEHOLDER: &str = "请稍候";
    /// "一" is answered with 4 replies; "二" thinks past the placeholder time, then answers.
    #[derive(Clone, Default)]
    struct Greedy;
    #[async_trait]
    impl Handler for Greedy {
        async fn on_customer_message(&self, ctx: &ReplyContext, msg: &Message) -> Result<(), HandlerError> {
            if text_of(msg) == "一" {
                // by now "二" has been pulled: both messages share the same 5 replies
                tokio::time::sleep(Duration::from_millis(200)).await;
                for i in 1..=4 {
                    ctx.reply_text(&format!("part {i}")).await?;
                }
            } else {
                assert_eq!(ctx.budget().await?.remaining, 1);
                tokio::time::sleep(Duration::from_millis(1200)).await;
                ctx.reply_text("final").await?;
            }
            Ok(())
        }
    }
    let sim = sim().await;
    let config = BotConfig::default().with_placeholder(Duration::from_millis(600), PLACEHOLDER);
    let bot = start(&sim, Greedy, config).await;
    let alice = sim.customer(KF, "wmALICE");
    alice.say("一");
    alice.say("二");
    alice.wait_for_replies(5, WAIT).await;
    bot.bot.idle().await;
    let got = texts(&sim, "wmALICE");
    assert_eq!(
        got,
        vec!["part 1", "part 2", "part 3", "part 4", "final"],
        "no placeholder took the last slot"
    );
    assert_eq!(refusals(&sim, 95001), 0);
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn with_session_lookup_a_new_customer_costs_one_service_state_get() {
    #[derive(Clone, Default)]
    struct Asks(Arc<Mutex<Vec<Option<ServiceState>>>>);
    #[async_trait]
    impl Handler for Asks {
        async fn on_customer_message(&self, ctx: &ReplyContext, _: &Message) -> Result<(), HandlerError> {
            let state = ctx.session_state().await?;
            self.0.lock().unwrap().push(state);
            ctx.reply_text("ok").await?;
            Ok(())
        }
    }
    let sim = sim().await;
    let handler = Asks::default();
    let bot = start(&sim, handler.clone(), BotConfig::default().with_session_lookup(true)).await;
    let alice = sim.customer(KF, "wmALICE");
    alice.say("一");
    alice.wait_for_replies(1, WAIT).await;
    alice.say("二");
    alice.wait_for_replies(2, WAIT).await;
    bot.bot.idle().await;
    assert_eq!(*handler.0.lock().unwrap(), vec![Some(ServiceState::New), Some(ServiceState::New)]);
    assert_eq!(sim.call_count("/cgi-bin/kf/service_state/get"), 1, "looked up once, then cached");
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_six_part_answer_with_three_slots_left_sends_three_the_last_marked_cut() {
    #[derive(Clone, Default)]
    struct Long(Arc<Mutex<Option<(u32, bool)>>>);
    #[async_trait]
    impl Handler for Long {
        async fn on_customer_message(&self, ctx: &ReplyContext, _: &Message) -> Result<(), HandlerError> {
            ctx.reply_text("第一条").await?;
            ctx.reply_text("第二条").await?;
            assert_eq!(ctx.budget().await?.remaining, 3);
            let parts: Vec<String> = (1..=6).map(|i| format!("第 {i} 段")).collect();
            let d = ctx.reply_parts_fit(&parts).await?;
            *self.0.lock().unwrap() = Some((d.sent, d.cut));
            Ok(())
        }
    }
    let sim = sim().await;
    let handler = Long::default();
    let bot = start(&sim, handler.clone(), BotConfig::default()).await;
    let alice = sim.customer(KF, "wmALICE");
    alice.say("讲讲");
    alice.wait_for_replies(5, WAIT).await;
    bot.bot.idle().await;
    let got = texts(&sim, "wmALICE");
    let marker = wxkf_axum::bot::DEFAULT_CUT_MARKER;
    assert_eq!(
        got,
        vec![
            "第一条".to_owned(),
            "第二条".to_owned(),
            "第 1 段".to_owned(),
            "第 2 段".to_owned(),
            format!("第 3 段{marker}"),
        ]
    );
    assert_eq!(*handler.0.lock().unwrap(), Some((3, true)));
    assert_eq!(refusals(&sim, 95001), 0);
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cut_answer_of_full_pieces_still_fits_one_message() {
    /// Uses 4 replies, then answers with three full 2048-byte pieces: one fits.
    #[derive(Clone, Default)]
    struct Full(Arc<Mutex<Option<(u32, bool)>>>);
    #[async_trait]
    impl Handler for Full {
        async fn on_customer_message(&self, ctx: &ReplyContext, _: &Message) -> Result<(), HandlerError> {
            for i in 1..=4 {
                ctx.reply_text(&format!("part {i}")).await?;
            }
            let d = ctx.reply_text_fit(&"长".repeat(3 * 2048 / 3)).await?;
            *self.0.lock().unwrap() = Some((d.sent, d.cut));
            Ok(())
        }
    }
    let sim = sim().await;
    let handler = Full::default();
    let bot = start(&sim, handler.clone(), BotConfig::default().with_cut_marker("[cut]")).await;
    let alice = sim.customer(KF, "wmALICE");
    alice.say("long");
    alice.wait_for_replies(5, WAIT).await;
    bot.bot.idle().await;
    let got = texts(&sim, "wmALICE");
    assert_eq!(got.len(), 5);
    let last = got.last().map(String::as_str).unwrap_or_default();
    assert!(last.ends_with("长[cut]") && last.len() <= 2048, "{} bytes: {last:.30}", last.len());
    assert_eq!(*handler.0.lock().unwrap(), Some((1, true)));
    assert_eq!(refusals(&sim, 95001) + refusals(&sim, 45002), 0);
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_95018_from_a_cache_that_was_behind_is_reported_as_the_session_leaving_the_bot() {
    let sim = sim().await;
    let handler = Thinker { think: Duration::from_millis(1000), ..Default::default() };
    let bot = start(&sim, handler.clone(), BotConfig::default()).await;
    let alice = sim.customer(KF, "wmALICE");
    alice.say("我要退款");
    assert!(until(|| *handler.started.lock().unwrap() == 1).await);
    // the take-over's callback never arrives: the bot does not know of it when it replies
    sim.inject(wxkf_sim::FaultRule::new(wxkf_sim::Fault::DropCallback).callbacks());
    sim.servicer_takes(KF, "wmALICE", "zhangsan");
    assert!(until(|| !handler.outcomes.lock().unwrap().is_empty()).await);
    assert_eq!(*handler.outcomes.lock().unwrap(), vec!["refused in state 3".to_owned()]);
    assert_eq!(refusals(&sim, 95018), 1, "WeCom refused the one send the cache let through");
    assert!(alice.replies().is_empty());
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retried_turn_sends_nothing_twice_and_gets_one_placeholder() {
    const PLACEHOLDER: &str = "请稍候";
    /// Each attempt thinks past the placeholder time, says "part 1", and the first attempt then
    /// fails; the second also says "part 2".
    #[derive(Clone, Default)]
    struct Flaky(Arc<Mutex<u32>>);
    #[async_trait]
    impl Handler for Flaky {
        async fn on_customer_message(&self, _: &ReplyContext, _: &Message) -> Result<(), HandlerError> {
            Ok(())
        }
        async fn on_turn(&self, ctx: &ReplyContext, _turn: &Turn) -> Result<(), HandlerError> {
            let attempt = {
                let mut n = self.0.lock().unwrap();
                *n += 1;
                *n
            };
            tokio::time::sleep(Duration::from_millis(600)).await;
            ctx.reply_text("part 1").await?;
            if attempt == 1 {
                return Err("the model timed out".into());
            }
            ctx.reply_text("part 2").await?;
            Ok(())
        }
    }
    let sim = sim().await;
    let handler = Flaky::default();
    let config = BotConfig::default()
        .with_turns(Duration::from_millis(200), Duration::from_secs(5))
        .with_placeholder(Duration::from_millis(300), PLACEHOLDER)
        .with_retries(2, Duration::from_millis(50));
    let bot = start(&sim, handler.clone(), config).await;
    let alice = sim.customer(KF, "wmALICE");
    alice.say("一");
    alice.say("二");
    alice.wait_for_replies(3, WAIT).await;
    bot.bot.idle().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(*handler.0.lock().unwrap(), 2, "retried once");
    assert_eq!(texts(&sim, "wmALICE"), vec![PLACEHOLDER, "part 1", "part 2"]);
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_turn_that_gives_up_reaches_the_dead_letter_hook_once_with_its_newest_message() {
    #[derive(Clone, Default)]
    struct Fails(Arc<Mutex<Vec<String>>>);
    #[async_trait]
    impl Handler for Fails {
        async fn on_customer_message(&self, _: &ReplyContext, _: &Message) -> Result<(), HandlerError> {
            Ok(())
        }
        async fn on_turn(&self, ctx: &ReplyContext, _turn: &Turn) -> Result<(), HandlerError> {
            // 6 pieces cannot fit 5 replies: a permanent error, not retried
            ctx.reply_text(&"长".repeat(6 * 2048 / 3)).await?;
            Ok(())
        }
        async fn on_dead_letter(&self, msg: &Message, _error: &HandlerError) {
            self.0.lock().unwrap().push(text_of(msg));
        }
    }
    let sim = sim().await;
    let handler = Fails::default();
    let config = BotConfig::default().with_turns(Duration::from_millis(200), Duration::from_secs(5));
    let bot = start(&sim, handler.clone(), config).await;
    let alice = sim.customer(KF, "wmALICE");
    alice.say("一");
    alice.say("二");
    assert!(until(|| !handler.0.lock().unwrap().is_empty()).await);
    bot.bot.idle().await;
    assert_eq!(*handler.0.lock().unwrap(), vec!["二".to_owned()]);
    assert!(alice.replies().is_empty());
    bot.stop().await;
}
