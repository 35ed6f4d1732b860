//! A 2026-07-28 host on a legacy server (E8): the server's own requests
//! during a call become Multi Round-Trip `input_required` answers.
//!
//! A legacy server asks for input (elicitation, sampling, roots) with a
//! request of its own on the call's reply stream, and waits. A modern host
//! expects no such request; it expects the call to be answered with
//! `resultType: "input_required"` and then retries the call with
//! `inputResponses` and the `requestState` it got. So the bridge answers the
//! host's call with the server's requests, keeps the server's call running,
//! sends the server the host's answers when the retry comes, and gives the
//! call's final answer to the retry. The retry is never sent to the server
//! as a new call: the `requestState` the bridge made says which call it
//! continues.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::value::RawValue;

use crate::protocol::era::{InputRequest, json_string};
use crate::protocol::jsonrpc::{IdKey, Kind, Message, RawId, RawObject, Shape, result_response};

/// The server's calls that asked the host for input, by the id of the
/// host request that started them.
#[derive(Default)]
pub struct Relay {
    calls: Mutex<HashMap<IdKey, Call>>,
    next: AtomicU64,
}

struct Call {
    /// The `requestState` the host echoes in its retries.
    token: String,
    /// The host request that the next round answers, while none has been
    /// answered yet in this round.
    waiting: Option<RawId>,
    /// The id the call's final answer goes under: the latest retry's.
    answer_as: RawId,
    /// Server requests not yet put to the host.
    queued: Vec<InputRequest>,
    /// Keys put to the host → the server request each stands for.
    asked: HashMap<String, RawId>,
}

/// What to do with a host request.
pub enum Resume {
    /// Not a retry of a relayed call: send it as it is.
    NotOurs,
    /// A retry: send these answers to the server's requests; then, if
    /// given, answer the host with this (the next round, already due).
    Answers(Vec<Message>, Option<Message>),
}

impl Relay {
    /// A request from the server during the host's call `origin`. Returns
    /// the answer to put to the host now (`input_required`), if a host
    /// request is waiting for one; otherwise the request waits for the
    /// host's retry.
    pub fn server_asks(&self, origin: &RawId, request: &Message) -> Option<Message> {
        let Shape::Single(Kind::Request { id, method }) = request.shape() else {
            return None;
        };
        let params = RawObject::parse(request.raw())
            .ok()
            .and_then(|o| o.get("params").map(str::to_owned));
        let key = format!("server-{}", self.next.fetch_add(1, Ordering::Relaxed));
        tracing::info!(
            "the server asked for {method} during a call; answering the 2026-07-28 host with input_required"
        );
        let mut calls = self.calls.lock().expect("relay lock");
        let call = calls.entry(origin.match_key()).or_insert_with(|| Call {
            token: format!(
                "mcp-tether:mrtr:{}",
                self.next.fetch_add(1, Ordering::Relaxed)
            ),
            waiting: Some(origin.clone()),
            answer_as: origin.clone(),
            queued: Vec::new(),
            asked: HashMap::new(),
        });
        call.asked.insert(key.clone(), id.clone());
        call.queued.push(InputRequest {
            key,
            method: method.to_string(),
            params,
        });
        let host = call.waiting.take()?;
        Some(input_required(call, &host))
    }

    /// A host request: a retry of a relayed call (it carries the
    /// `requestState` the bridge made), or not.
    pub fn resume(&self, retry: &Message) -> Resume {
        let Some(retry_id) = retry.request_id() else {
            return Resume::NotOurs;
        };
        let Some(token) = retry
            .param("requestState")
            .and_then(|raw| serde_json::from_str::<String>(&raw).ok())
        else {
            return Resume::NotOurs;
        };
        let mut calls = self.calls.lock().expect("relay lock");
        let Some(call) = calls.values_mut().find(|c| c.token == token) else {
            return Resume::NotOurs;
        };
        let responses: BTreeMap<String, Box<RawValue>> = retry
            .param("inputResponses")
            .and_then(|raw| serde_json::from_str(&raw).ok())
            .unwrap_or_default();
        let answers = responses
            .into_iter()
            .filter_map(|(key, result)| {
                let server_id = call.asked.remove(&key)?;
                Some(result_response(&server_id, result.get()))
            })
            .collect();
        call.answer_as = retry_id.clone();
        let next_round = match call.queued.is_empty() {
            true => {
                call.waiting = Some(retry_id.clone());
                None
            }
            false => Some(input_required(call, retry_id)),
        };
        Resume::Answers(answers, next_round)
    }

    /// The server's final answer to the call `origin` started, under the id
    /// of the host's latest retry.
    pub fn redirect(&self, answer: Message) -> Message {
        let Shape::Single(Kind::Response { id: Some(id) }) = answer.shape() else {
            return answer;
        };
        let Some(call) = self
            .calls
            .lock()
            .expect("relay lock")
            .remove(&id.match_key())
        else {
            return answer;
        };
        answer.with_id(&call.answer_as).unwrap_or(answer)
    }
}

/// The host's answer that asks for what the server asked, and puts those
/// requests in `asked`.
fn input_required(call: &mut Call, host: &RawId) -> Message {
    let requests: Vec<String> = call
        .queued
        .drain(..)
        .map(|request| {
            let params = request
                .params
                .map(|p| format!(",\"params\":{p}"))
                .unwrap_or_default();
            format!(
                "{}:{{\"method\":{}{params}}}",
                json_string(&request.key),
                json_string(&request.method)
            )
        })
        .collect();
    let result = format!(
        "{{\"resultType\":\"input_required\",\"inputRequests\":{{{}}},\"requestState\":{}}}",
        requests.join(","),
        json_string(&call.token)
    );
    result_response(host, &result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn msg(text: &str) -> Message {
        Message::parse(Bytes::copy_from_slice(text.as_bytes())).unwrap()
    }

    #[test]
    fn e8_a_server_request_becomes_input_required_and_the_retry_continues_the_call() {
        let relay = Relay::default();
        let origin = RawId::from_json("7");
        let asked = relay
            .server_asks(&origin, &msg(r#"{"jsonrpc":"2.0","id":0,"method":"elicitation/create","params":{"message":"ok?"}}"#))
            .expect("the host is waiting");
        let asked: serde_json::Value = serde_json::from_slice(asked.raw()).unwrap();
        assert_eq!(asked["id"], 7);
        assert_eq!(asked["result"]["resultType"], "input_required");
        let (key, request) = asked["result"]["inputRequests"]
            .as_object()
            .unwrap()
            .iter()
            .next()
            .unwrap();
        assert_eq!(request["method"], "elicitation/create");
        let token = asked["result"]["requestState"].as_str().unwrap();

        let retry = serde_json::json!({"jsonrpc": "2.0", "id": 8, "method": "tools/call", "params": {
            "name": "t", "inputResponses": {key: {"action": "accept"}}, "requestState": token}});
        let Resume::Answers(answers, next) = relay.resume(&msg(&retry.to_string())) else {
            panic!("the retry is ours");
        };
        assert!(next.is_none());
        assert_eq!(
            std::str::from_utf8(answers[0].raw()).unwrap(),
            r#"{"jsonrpc":"2.0","id":0,"result":{"action":"accept"}}"#
        );
        let done = relay.redirect(msg(r#"{"jsonrpc":"2.0","id":7,"result":{"content":[]}}"#));
        assert_eq!(
            std::str::from_utf8(done.raw()).unwrap(),
            r#"{"jsonrpc":"2.0","id":8,"result":{"content":[]}}"#
        );
    }

    #[test]
    fn other_requests_and_answers_are_not_touched() {
        let relay = Relay::default();
        assert!(matches!(
            relay.resume(&msg(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"requestState":"theirs"}}"#)),
            Resume::NotOurs
        ));
        let answer = msg(r#"{"jsonrpc":"2.0","id":1,"result":{}}"#);
        assert_eq!(relay.redirect(answer.clone()).raw(), answer.raw());
    }
}
