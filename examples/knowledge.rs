//! List the knowledge base (groups and their Q&As) across pages; add a group if
//! `WXKF_KNOWLEDGE_GROUP` is set.
//!
//! Env: `WXKF_CORP_ID`, `WXKF_APP_SECRET`, optional `WXKF_KNOWLEDGE_GROUP` and `WXKF_BASE_URL`.
//! Self-built apps only.

use futures_util::TryStreamExt;
use wxkf_client::Client;
use wxkf_client::types::knowledge::{
    KnowledgeAddGroupRequest, KnowledgeListGroupRequest, KnowledgeListIntentRequest,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::from_env()?;
    if let Ok(name) = std::env::var("WXKF_KNOWLEDGE_GROUP") {
        let added = client.knowledge().add_group(KnowledgeAddGroupRequest::new(name)).await?;
        println!("added group {}", added.group_id);
    }
    let groups: Vec<_> =
        client.knowledge().list_group_stream(KnowledgeListGroupRequest::new()).try_collect().await?;
    for group in &groups {
        println!("group {} {:?} (default: {})", group.group_id, group.name, group.is_default);
        let intents: Vec<_> = client
            .knowledge()
            .list_intent_stream(KnowledgeListIntentRequest::new().with_group_id(&group.group_id))
            .try_collect()
            .await?;
        for intent in &intents {
            println!("  {} {:?}", intent.intent_id, intent.question);
        }
    }
    Ok(())
}
