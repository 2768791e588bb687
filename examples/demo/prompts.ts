import type { DemoRoute } from './scenario';

/**
 * Synthetic prompts per route: a realistic opening line, padded with filler to the wanted size in
 * fake mode (the fake provider counts 4 characters per token). No real personal data anywhere.
 */
const OPENINGS: Record<DemoRoute, readonly string[]> = {
  chat: [
    'Hi! Do you have a laptop bag that fits a 16-inch laptop?',
    'What are your opening hours on public holidays?',
    'Do you ship to Norway, and how long does delivery take?',
    'Can I change the colour of an item after ordering it?',
    'Is the winter jacket in the photos waterproof?',
  ],
  support: [
    'Order #{n} arrived damaged: the box was crushed and the lamp is broken. I would like a replacement.',
    'I was charged twice for order #{n}. Please refund the duplicate payment.',
    'My package #{n} shows delivered but it is not at my door.',
    'The discount code WINTER{n} was not applied at checkout.',
  ],
  classify: [
    'Mi pedido #{n} llegó roto, quiero un reembolso.',
    'Where is my order #{n}? It was due on Tuesday.',
    'The app crashes every time I open the settings page.',
    'Please delete my account and all my data.',
    'Ich habe die Rechnung für Bestellung #{n} nicht bekommen.',
  ],
  records: [
    'Case E-{n}: the employee reports a scheduling conflict with their manager and asks for a meeting. List the next steps.',
    'Case E-{n}: request for parental leave starting next month. Summarize what HR must prepare.',
    'Case E-{n}: accommodation request for a standing desk. Draft a short reply.',
  ],
  analyst: [
    'Compare the refund rates of regions North and South over the last quarter and explain the two largest changes.',
    'Given the weekly ticket volumes below, forecast next week and name the main risk.',
    'Explain why the average order value fell in week {n} and suggest one experiment.',
  ],
  summarize: [
    'Summarize this support transcript in three bullet points.',
    'Summarize this product review thread for the catalogue team.',
    'Summarize this incident report in plain language.',
  ],
};

const FILLER = [
  'The customer had contacted us before about a similar issue.',
  'Order history shows three purchases in the last six months.',
  'The item was shipped from the central warehouse by standard delivery.',
  'Agent notes mention a polite tone and a clear description of the problem.',
  'Previous replies offered a voucher, which was not used.',
  'The tracking page was last updated two days ago.',
  'Weekly numbers: 1204, 1187, 1320, 1298, 1411, 1376 tickets.',
  'Region North: refunds 3.1% to 4.4%. Region South: refunds 2.7% to 2.5%.',
];

/**
 * The messages of one request.
 *
 * @example
 * ```ts
 * messagesFor('support', 7, 800, true); // [{ role: 'system', ... }, { role: 'user', content: '<~3200 characters>' }]
 * ```
 */
export function messagesFor(route: DemoRoute, n: number, tokens: number, pad: boolean): { role: 'system' | 'user'; content: string }[] {
  const openings = OPENINGS[route];
  let text = openings[n % openings.length]!.replaceAll('{n}', String(1000 + n));
  if (pad) {
    const parts = [text];
    let length = text.length;
    for (let i = n; length < tokens * 4; i++) {
      const f = FILLER[i % FILLER.length]!;
      parts.push(f);
      length += f.length + 1;
    }
    text = parts.join(' ').slice(0, Math.max(text.length, tokens * 4));
  }
  return [
    { role: 'system', content: SYSTEM[route] },
    { role: 'user', content: text },
  ];
}

const SYSTEM: Record<DemoRoute, string> = {
  chat: 'You are a friendly shop assistant. Answer in two sentences at most.',
  support: 'You are a support agent. Reply politely and propose one concrete next step. Keep it short.',
  classify:
    'Classify the customer message. Reply with JSON only: {"intent": one of order_status, refund_request, technical_issue, account, other; "urgency": low|medium|high; "language": ISO code; "summary": one short sentence}.',
  records: 'You are an HR assistant. Be factual and brief.',
  analyst: 'You are a data analyst. Be precise and brief.',
  summarize: 'Summarize briefly.',
};
