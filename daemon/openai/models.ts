import type { ListModel, OpenAIModel } from '../api/types.js';

/** A local model as an OpenAI model object: id is its name, owner its namespace ("library" for the default one). */
export function toOpenAIModel(m: Pick<ListModel, 'name' | 'modified_at'>): OpenAIModel {
  const parts = m.name.split('/');
  return {
    id: m.name,
    object: 'model',
    created: Math.floor(Date.parse(m.modified_at) / 1000),
    owned_by: parts.length >= 2 ? parts[parts.length - 2] : 'library',
  };
}
