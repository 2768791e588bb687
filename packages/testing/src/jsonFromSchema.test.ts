import { valueFromSchema } from './jsonFromSchema';

describe('valueFromSchema', () => {
  it('fills every property with the simplest valid value', () => {
    const schema = {
      type: 'object',
      properties: {
        intent: { type: 'string', enum: ['refund_request', 'other'] },
        urgency: { enum: ['low', 'medium', 'high'] },
        summary: { type: 'string' },
        score: { type: 'number', minimum: 0.5 },
        count: { type: 'integer', exclusiveMinimum: 3 },
        ok: { type: 'boolean' },
        tags: { type: 'array', items: { type: 'string' } },
        nested: { type: 'object', properties: { when: { type: 'string', format: 'date-time' } }, required: ['when'] },
      },
      required: ['intent', 'summary'],
    };
    expect(valueFromSchema(schema, 'tag')).toEqual({
      intent: 'refund_request',
      urgency: 'low',
      summary: 'tag',
      score: 0.5,
      count: 4,
      ok: true,
      tags: ['tag'],
      nested: { when: '2024-01-01T00:00:00Z' },
    });
  });

  it('honours minLength/maxLength, minItems/maxItems, const and multipleOf', () => {
    expect(valueFromSchema({ type: 'string', minLength: 5 }, 'ab')).toBe('abxxx');
    expect(valueFromSchema({ type: 'string', maxLength: 3 }, 'abcdef')).toBe('abc');
    expect(valueFromSchema({ type: 'array', minItems: 2, items: { const: 7 } }, '')).toEqual([7, 7]);
    expect(valueFromSchema({ type: 'array', maxItems: 0, items: {} }, '')).toEqual([]);
    expect(valueFromSchema({ type: 'integer', minimum: 7, multipleOf: 5 }, '')).toBe(10);
  });

  it('resolves local $refs, picks the first non-null anyOf and type-array member', () => {
    const schema = {
      $defs: { Item: { type: 'object', properties: { id: { type: 'integer' } } } },
      type: 'object',
      properties: {
        item: { $ref: '#/$defs/Item' },
        maybe: { anyOf: [{ type: 'null' }, { type: 'string' }] },
        nullable: { type: ['null', 'number'] },
        legacy: { $ref: '#/definitions/Missing' },
      },
    };
    expect(valueFromSchema(schema, 't')).toEqual({ item: { id: 0 }, maybe: 't', nullable: 0, legacy: null });
  });

  it('merges allOf object parts', () => {
    const schema = { allOf: [{ type: 'object', properties: { a: { type: 'string' } } }, { properties: { b: { type: 'integer' } } }] };
    expect(valueFromSchema(schema, 'x')).toEqual({ a: 'x', b: 0 });
  });

  it('stops on recursive schemas', () => {
    const schema = { $defs: { Node: { type: 'object', properties: { next: { $ref: '#/$defs/Node' } } } }, $ref: '#/$defs/Node' };
    expect(JSON.stringify(valueFromSchema(schema, ''))).toContain('null');
  });
});
