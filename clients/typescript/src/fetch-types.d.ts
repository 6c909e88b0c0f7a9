// Connect's typings name the fetch type HeadersInit, which Node's typings
// declare only inside undici-types; give it its global name without pulling
// in the DOM library.
type HeadersInit = NonNullable<ConstructorParameters<typeof Headers>[0]>;
