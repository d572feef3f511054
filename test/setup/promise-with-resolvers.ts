import "../../local/promise-with-resolvers";
