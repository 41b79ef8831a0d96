/** The README's Dashboard section names exactly the dashboard's actions and fleet controls, and the codes they refuse with. */
import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ACTIONS, HTTP_CODES } from '../../src/dashboard/routes.ts';
import { CONTROLS } from '../../src/dashboard/controls.ts';
import { ROOT } from '../helpers/paths.ts';

const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
const dashboard = readme.slice(readme.indexOf('\n## Dashboard\n'), readme.indexOf('\n## Security\n'));

describe('README Dashboard', () => {
  it('lists the actions and the fleet controls of the route table, each with the token it takes', () => {
    const lists = [...dashboard.matchAll(/POST\s+\/api\/actions\/\{([a-z_,]+)\}` with\s+`Authorization: Bearer <([A-Z_]+)>`/g)].map((m) => [m[1].split(','), m[2]]);
    expect(lists).toEqual([[Object.keys(ACTIONS), 'DASHBOARD_TOKEN'], [Object.keys(CONTROLS), 'DASHBOARD_OPERATOR_TOKEN']]);
  });

  it('names every stable code with its status', () => {
    // A 409 carries the refusing error's own code (APPROVAL_DECIDED, ...), not REFUSED.
    for (const [status, code] of [...Object.entries(HTTP_CODES).filter(([s]) => s !== '409'), ['403', 'NOT_OPERATOR'], ['403', 'CROSS_ORIGIN'], ['404', 'WORKER_NOT_FOUND'], ['409', 'WORKER_NOT_ANSWERING']]) {
      expect({ code, named: new RegExp(`\`${code}\`\\s+\\(${status}|${status}\\s+\`${code}\``).test(dashboard) }).toEqual({ code, named: true });
    }
  });
});
