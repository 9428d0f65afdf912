"""AI counselling and readings: OpenAI -> Anthropic -> static text, with shared breakers.

    chain = get_chain(core)                      # core.ai, built lazily
    result = await chain.answer(AIRequest("tarot", "ko", context, (Message("user", q),), static))
    result.provider, result.fallback, result.text

Pieces: ``providers`` (official async SDKs, no SDK retries, explicit timeouts), ``breaker``
(Redis circuit breakers, one Lua script per transition), ``guard`` (length cap and
prompt-injection neutralising), ``prompts`` (+ ``prompts.yaml``, ko/en), ``safety`` (crisis
replies before anything else, the output check before an answer is sent), ``chain`` (time
budget, output check, daily provider-spend cap).
"""

from bot.core.ai.breaker import Breakers, BreakerStatus, Permit
from bot.core.ai.chain import PROVIDERS, AIChain, build_chain, get_chain
from bot.core.ai.guard import Guarded, guard_input
from bot.core.ai.prompts import prompts
from bot.core.ai.types import AIRequest, AIResult, Attempt, Message, ProviderAnswer, ProviderError

__all__ = [
    "AIChain", "AIRequest", "AIResult", "Attempt", "Breakers", "BreakerStatus", "Guarded", "Message",
    "PROVIDERS", "Permit", "ProviderAnswer", "ProviderError", "build_chain", "get_chain", "guard_input",
    "prompts",
]
