/**
 * What to tell the user when the sidecar does not start. It is installed from the
 * codelab-agent repository (it is not on the package index), so the message gives the
 * repository's own command and the setting that points at the result.
 */

/** Run in a clone of the codelab-agent repository (as its README says). */
export const INSTALL_COMMAND = 'python3 -m venv .venv && .venv/bin/pip install -e .';

export function startFailure(serverPath: string, reason: string): string {
  return (
    `Could not start the sidecar (${serverPath}): ${reason}. ` +
    `Install it from the codelab-agent repository: in a clone of it run \`${INSTALL_COMMAND}\`, ` +
    'then set codelab.serverPath in your user settings to the clone\'s .venv/bin/codelab-agent ' +
    '(or put that .venv/bin on the PATH VS Code starts with).'
  );
}
