/**
 * Flux-style post-build substitution (kustomize-controller's `postBuild.substitute`): in an app
 * that opts in with `substitute:` in sluice.yaml, `${var}` becomes the variable's value,
 * `${var:=default}` and `${var:-default}` fall back to the default, and `$${var}` is the literal
 * text `${var}`. Variable names are shell-like (`[_a-zA-Z][_a-zA-Z0-9]*`), so Sluice's own
 * `${values.KEY}` and `${target.*}` placeholders are never taken for one.
 */
const VARIABLE = /\$(\$?)\{([_a-zA-Z][_a-zA-Z0-9]*)(?::[=-]([^}]*))?\}/g;

/**
 * Substitutes the variables of `text`; `missing` is called (and must throw) for a variable with
 * neither a value nor a default.
 */
export const fluxSubstitute = (
  text: string,
  vars: Readonly<Record<string, string>>,
  missing: (name: string) => never,
): string =>
  text.replace(VARIABLE, (whole, escaped: string, name: string, fallback: string | undefined) => {
    if (escaped) return whole.slice(1);
    if (Object.hasOwn(vars, name)) return vars[name]!;
    if (fallback !== undefined) return fallback;
    return missing(name);
  });
