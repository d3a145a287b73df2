// The kinds a function may declare, read from the WIT at build time (`enum kind` in
// wit/types.wit), so the JavaScript runtime never keeps its own copy of the list.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** The `enum kind` cases of `<witDir>/types.wit`, in order, as the component model names them. */
export async function witKinds (witDir) {
  const wit = await readFile(join(witDir, 'types.wit'), 'utf8');
  const body = /enum kind \{([^}]*)\}/.exec(wit);
  if (!body) throw new Error(`no \`enum kind\` in ${join(witDir, 'types.wit')}`);
  return body[1].split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('//'))
    .map((line) => line.replace(/,$/, '').replace(/^%/, ''));
}
